// Stage 2 of the pipeline: bytes of one captured frame -> the few header fields the tracker needs.
//
// decode_packet is a pure function. It never allocates, never throws and never reads past the
// captured length it is given. Every frame it cannot use comes back with the reason why.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "ephemera/core/types.hpp"

namespace ephemera {

// Link-layer header types, as numbered by libpcap's pcap_datalink() (DLT_*) on Linux.
enum class LinkType : int {
    null = 0,          // BSD loopback, family in host byte order of the capturing machine
    ethernet = 1,      // Ethernet II, with any number of 802.1Q / 802.1ad tags
    ppp = 9,           // PPP, with or without HDLC-like address and control
    ppp_serial = 50,   // PPP in HDLC-like framing
    arcnet = 7,        // ARCNET as BSD writes it (no offset field)
    raw = 12,          // raw IPv4 or IPv6 (DLT_RAW on Linux)
    raw_openbsd = 14,  // DLT_RAW as OpenBSD numbers it
    raw_linktype = 101,
    loop = 108,    // OpenBSD loopback, family in network byte order
    c_hdlc = 104,  // Cisco HDLC
    ieee802_11 = 105,
    linux_sll = 113,
    prism = 119,  // 802.11 after a Prism monitor header (or an AVS one)
    radiotap = 127,
    arcnet_linux = 129,
    pktap_apple = 149,  // DLT_USER2, which macOS writes for PKTAP
    avs = 163,          // 802.11 after an AVS monitor header
    juniper_ether = 178,
    ipv4 = 228,
    ipv6 = 229,
    nflog = 239,  // Linux NFLOG: the logged IP packet in a TLV
    ipoib = 242,  // IP over InfiniBand, with Linux's 20-byte pseudo-address
    pktap = 258,  // Apple PKTAP: a header with the inner link type, then its frame
    linux_sll2 = 276,
};

// Why a frame was not usable. The names are part of the JSON report ("skipped").
enum class DecodeStatus : std::uint8_t {
    ok,
    unsupported_link,       // a link type this tool does not decode
    truncated_link,         // captured length ends inside the link header
    non_ip,                 // ARP, LLDP, 802.3 LLC, ... : nothing with ports
    truncated_ip,           // captured length ends inside the IP header or its extension chain
    bad_ip_header,          // wrong version, header length or total length
    non_first_fragment,     // a later IP fragment carries no ports
    unsupported_transport,  // ICMP, ESP, SCTP, ...
    truncated_tcp,
    bad_tcp_header,
    truncated_udp,
    bad_udp_header,
    truncated_tunnel,    // the captured bytes end inside a tunnel header
    tunnel_too_deep,     // more than max_tunnel_depth encapsulations, or a loop of them
    unsupported_tunnel,  // an encapsulation ephemera does not unwrap (a GRE payload, ...)
    encrypted,           // a protected 802.11 frame or an encrypted MACsec frame
};
inline constexpr std::size_t decode_status_count = 16;

// Encapsulations the decoder unwraps to the innermost IP packet that carries TCP or UDP.
enum class TunnelKind : std::uint8_t {
    none,
    vxlan,         // UDP 4789, Linux's 8472
    vxlan_gpe,     // UDP 4790
    geneve,        // UDP 6081
    gtp_u,         // UDP 2152
    teredo,        // UDP 3544: IPv6 in UDP
    mpls_udp,      // UDP 6635
    gre,           // IP protocol 47 (with ERSPAN types I, II, III inside)
    ip_in_ip,      // IP protocols 4 and 41: IPv4 or IPv6 inside IPv4 or IPv6
    mpls,          // ethertypes 0x8847, 0x8848
    pppoe,         // ethertype 0x8864
    pbb,           // ethertype 0x88e7: 802.1ah provider backbone bridging (MAC-in-MAC)
    fabricpath,    // ethertype 0x8903: Cisco FabricPath's outer MAC header
    nsh,           // ethertype 0x894f (and inside VXLAN-GPE, GRE): a network service header
    pim_register,  // IP protocol 103: a PIM Register carrying a multicast packet to its RP
};
inline constexpr std::size_t tunnel_kind_count = 15;
std::string_view tunnel_name(TunnelKind kind) noexcept;
inline constexpr int max_tunnel_depth = 8;

// Which UDP destination ports carry which tunnel. The defaults are IANA's (and Linux's VXLAN
// port); --tunnel-port adds to them. A datagram on one that does not parse as that tunnel stays
// an ordinary UDP datagram.
struct TunnelPorts {
    static constexpr std::size_t capacity = 16;
    std::array<std::pair<std::uint16_t, TunnelKind>, capacity> entries{};
    std::size_t size = 0;
    std::uint64_t seen = 0;  // bit (port % 64) of every port: most ports are turned away at once

    static TunnelPorts defaults() noexcept;
    // False when the table is full.
    bool add(std::uint16_t port, TunnelKind kind) noexcept;
    TunnelKind kind_of(std::uint16_t port) const noexcept {
        if (((seen >> (port % 64)) & 1) == 0) return TunnelKind::none;
        for (std::size_t i = 0; i < size; ++i)
            if (entries[i].first == port) return entries[i].second;
        return TunnelKind::none;
    }
};

struct DecodeOptions {
    bool decapsulate = true;  // false: the outermost TCP/UDP is the packet (--decapsulate none)
    TunnelPorts ports = TunnelPorts::defaults();
    bool split_segments = false;  // --split-segments: the pipeline asks for each SegmentPath
};

// The VLANs and tunnels a packet came through, outermost first: what --split-segments keys
// hosts by. A VLAN tag's id is its 12-bit VLAN ID; a tunnel's, its TunnelInfo id where it has one.
struct SegmentHop {
    TunnelKind kind = TunnelKind::none;  // none: a VLAN tag
    bool has_id = false;
    std::uint32_t id = 0;
    bool operator==(const SegmentHop&) const = default;
};
struct SegmentPath {
    static constexpr std::size_t capacity =
        2 * max_tunnel_depth;  // VLANs beyond are not told apart
    std::array<SegmentHop, capacity> hops{};
    std::uint8_t count = 0;
    bool operator==(const SegmentPath&) const = default;
};

// The outermost tunnel a packet came through: what the report's `tunnels` list tallies.
struct TunnelInfo {
    TunnelKind kind = TunnelKind::none;
    bool has_id = false;
    std::uint32_t id = 0;  // VNI, GRE key, TEID, MPLS label, PPPoE session, I-SID or NSH path
    Address outer_source;  // the outer IP header's, where there is one (not for MPLS, PPPoE)
    Address outer_destination;
};

std::string_view reason_name(DecodeStatus status) noexcept;

namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
}  // namespace tcp_flag

struct DecodedPacket {
    Endpoint source;
    Endpoint destination;
    Protocol protocol = Protocol::tcp;
    std::uint8_t tcp_flags = 0;
    // The IPv4 TTL or IPv6 hop limit as captured (after the hops on the way).
    std::uint8_t ttl = 0;
    // A SYN's option layout (tcp_option_layout); 0 for other packets.
    std::uint8_t syn_option_layout = 0;
    std::uint32_t sequence = 0;
    std::uint32_t acknowledgment = 0;
    std::uint32_t timestamp_value = 0;     // TCP timestamp option TSval; 0 without one
    std::uint16_t ip_id = 0;               // IPv4 identification; 0 for IPv6
    std::uint16_t transport_checksum = 0;  // as it stands in the header, unchecked
    // Transport payload size from the IP length fields, so a snaplen cut does not shrink it.
    std::uint32_t payload_length = 0;
};

static_assert(sizeof(DecodedPacket) == 64, "DecodedPacket no longer fits one cache line");

// The layout of a SYN's TCP options, as p0f fingerprints systems by it ("olayout"): the kinds of
// its MSS, window scale, SACK-permitted, timestamp, NOP and end-of-list options in their order,
// hashed to 1..255; 0 when the SYN has none of them. The options one connection carries and the
// next one from the same host may not (TCP Fast Open, MD5, multipath) are left out, so a host's
// SYNs share one layout; systems differ (Linux: MSS,SACK,TS,NOP,WS; Windows: MSS,NOP,WS,NOP,NOP,
// SACK; macOS: MSS,NOP,WS,NOP,NOP,TS,SACK,EOL).
std::uint8_t tcp_option_layout(std::span<const std::uint8_t> options) noexcept;

struct DecodeResult {
    DecodeStatus status = DecodeStatus::ok;
    std::uint8_t tunnel_depth = 0;  // encapsulations unwrapped; the outermost is in `tunnel`
    DecodedPacket packet;

    bool ok() const noexcept { return status == DecodeStatus::ok; }
};

// `frame` is exactly the captured bytes (caplen), nothing more. Where the packet came through a
// tunnel (tunnel_depth > 0), the outermost one is written to `tunnel`, when it is given; nothing
// is written to it otherwise (a plain packet pays for no tunnel's fields).
// `segment`, when given, is written with the packet's SegmentPath (its count is 0 for a packet
// that came through no VLAN or tunnel).
DecodeResult decode_packet(LinkType link_type, std::span<const std::uint8_t> frame,
                           const DecodeOptions& options, TunnelInfo* tunnel = nullptr,
                           SegmentPath* segment = nullptr) noexcept;
DecodeResult decode_packet(LinkType link_type, std::span<const std::uint8_t> frame) noexcept;

// Whether decode_packet knows this link type at all; the capture stage warns once for others.
bool is_supported_link(int link_type) noexcept;

}  // namespace ephemera
