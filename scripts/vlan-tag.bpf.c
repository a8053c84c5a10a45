// tc classifier for scripts/capture-samples: this sandbox's kernel has no 802.1Q driver, so VLAN
// tags are pushed by the kernel's own skb_vlan_push on egress and popped on ingress, after the
// packet taps have seen them. tcpdump on the veth therefore records real tagged frames.
//
// Built per capture with -DOUTER_PROTO=0x8100|0x88a8 -DOUTER_VID=N [-DINNER_VID=N] (inner: 802.1Q).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

static long (*skb_vlan_push)(struct __sk_buff* skb, __u16 proto, __u16 tci) =
    (void*)BPF_FUNC_skb_vlan_push;
static long (*skb_vlan_pop)(struct __sk_buff* skb) = (void*)BPF_FUNC_skb_vlan_pop;

#define NETWORK_ORDER(x) __builtin_bswap16(x)

__attribute__((section("push"), used)) int push_tags(struct __sk_buff* skb) {
#ifdef INNER_VID
    skb_vlan_push(skb, NETWORK_ORDER(0x8100), INNER_VID);
#endif
    skb_vlan_push(skb, NETWORK_ORDER(OUTER_PROTO), OUTER_VID);
    return TC_ACT_OK;
}

__attribute__((section("pop"), used)) int pop_tags(struct __sk_buff* skb) {
    skb_vlan_pop(skb);
#ifdef INNER_VID
    skb_vlan_pop(skb);
#endif
    return TC_ACT_OK;
}

char program_license[] __attribute__((section("license"), used)) = "GPL";
