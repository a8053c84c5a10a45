// Frame decoder. Each layer checks that the bytes it reads are inside the span it was given, then
// hands the next layer a narrower span; no layer looks outside its own span.
#include "ephemera/decode/decode.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ephemera {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100;      // 802.1Q
constexpr std::uint16_t ethertype_qinq = 0x88a8;      // 802.1ad service tag
constexpr std::uint16_t ethertype_qinq_old = 0x9100;  // pre-standard stacked tag

constexpr std::uint8_t ip_protocol_tcp = 6;
constexpr std::uint8_t ip_protocol_udp = 17;

std::uint16_t load16(const std::uint8_t* at) noexcept {
    return static_cast<std::uint16_t>((at[0] << 8) | at[1]);
}

std::uint32_t load32(const std::uint8_t* at) noexcept {
    return (std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) |
           (std::uint32_t{at[2]} << 8) | std::uint32_t{at[3]};
}

// All 16 bytes are written at once, zeros after an IPv4 address included: the flow is keyed from
// the address words right after, and a word read back from several smaller writes waits for them
// to finish (store forwarding fails), a stall on every packet.
void set_address(Address& address, Family family, const std::uint8_t* at) noexcept {
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), at, family == Family::ipv4 ? 4 : 16);
    address.bytes = bytes;
    address.family = family;
}

constexpr std::uint8_t option_end = 0;
constexpr std::uint8_t option_nop = 1;
constexpr std::uint8_t option_mss = 2;
constexpr std::uint8_t option_window_scale = 3;
constexpr std::uint8_t option_sack_permitted = 4;
constexpr std::uint8_t option_timestamp = 8;

// Calls visit(kind, option) for each TCP option in turn, `option` being its bytes from the kind
// on (one for NOP and end-of-list), until visit returns false, the list ends, or an option's length
// runs past the options (where the walk stops: nothing past them is read).
template <typename Visit>
void for_each_tcp_option(Bytes options, const Visit& visit) noexcept {
    std::size_t at = 0;
    while (at < options.size()) {
        const std::uint8_t kind = options[at];
        if (kind == option_end || kind == option_nop) {
            if (!visit(kind, options.subspan(at, 1)) || kind == option_end) return;
            ++at;
            continue;
        }
        if (at + 1 >= options.size()) return;
        const std::uint8_t length = options[at + 1];
        if (length < 2 || at + length > options.size()) return;
        if (!visit(kind, options.subspan(at, length))) return;
        at += length;
    }
}

// Of the options, only the timestamp is read from every segment (RFC 7323): it tells whether a
// 4-tuple may be reused early.
void read_tcp_timestamp(Bytes options, DecodedPacket& packet) noexcept {
    for_each_tcp_option(options, [&](std::uint8_t kind, Bytes option) {
        if (kind != option_timestamp || option.size() != 10) return true;
        packet.timestamp_value = load32(&option[2]);
        return false;
    });
}

constexpr std::uint16_t ethertype_mpls = 0x8847;
constexpr std::uint16_t ethertype_mpls_multicast = 0x8848;
constexpr std::uint16_t ethertype_pppoe_session = 0x8864;
constexpr std::uint16_t ethertype_bridged = 0x6558;  // transparent Ethernet bridging
constexpr std::uint16_t ethertype_erspan_ii = 0x88be;
constexpr std::uint16_t ethertype_erspan_iii = 0x22eb;
constexpr std::uint16_t ethertype_ppp = 0x880b;
constexpr std::uint16_t ethertype_wccp = 0x883e;  // Cisco WCCP redirection: 4 bytes, then IPv4
constexpr std::uint16_t ppp_ipv4 = 0x0021;
constexpr std::uint16_t ppp_ipv6 = 0x0057;
constexpr std::uint16_t ppp_mpls = 0x0281;
constexpr std::uint16_t ppp_mpls_multicast = 0x0283;
constexpr std::uint8_t ip_protocol_ipip = 4;
constexpr std::uint8_t ip_protocol_ipv6 = 41;
constexpr std::uint8_t ip_protocol_gre = 47;
constexpr std::uint8_t ip_protocol_mpls = 137;
constexpr std::uint8_t ip_protocol_pim = 103;
constexpr std::uint16_t ethertype_macsec = 0x88e5;
constexpr std::uint16_t ethertype_pbb = 0x88e7;     // 802.1ah backbone service instance tag
constexpr std::uint16_t ethertype_vn_tag = 0x8926;  // Cisco VN-Tag
constexpr std::uint16_t ethertype_fabricpath = 0x8903;
constexpr std::uint16_t ethertype_nsh = 0x894f;
constexpr std::uint16_t ethertype_cisco_metadata = 0x8909;  // a security group tag

std::uint16_t load16_little(const std::uint8_t* at) noexcept {
    return static_cast<std::uint16_t>(at[0] | (at[1] << 8));
}

std::uint32_t load32_little(const std::uint8_t* at) noexcept {
    return std::uint32_t{at[0]} | (std::uint32_t{at[1]} << 8) | (std::uint32_t{at[2]} << 16) |
           (std::uint32_t{at[3]} << 24);
}

std::uint32_t load24(const std::uint8_t* at) noexcept {
    return (std::uint32_t{at[0]} << 16) | (std::uint32_t{at[1]} << 8) | std::uint32_t{at[2]};
}

// One frame's walk down its layers. Each layer checks that the bytes it reads are inside its
// span before it reads them, writes its fields only then, and hands the next layer a narrower
// span. Tunnels count towards a depth limit, so no nesting or loop can recurse without end.
class Decoder {
  public:
    Decoder(const DecodeOptions& options, DecodedPacket& packet, TunnelInfo* tunnel,
            SegmentPath* segment) noexcept
        : options_(options), packet_(packet), tunnel_(tunnel), segment_(segment) {}

    DecodeStatus link(LinkType link_type, Bytes frame) noexcept;
    std::uint8_t depth() const noexcept { return depth_; }

  private:
    DecodeStatus ethertype(std::uint16_t type, Bytes payload) noexcept;
    DecodeStatus ethernet(Bytes frame) noexcept;
    DecodeStatus ipv4(Bytes datagram) noexcept;
    DecodeStatus ipv6(Bytes datagram) noexcept;
    DecodeStatus ip_by_version(Bytes datagram) noexcept;
    DecodeStatus loopback(Bytes frame) noexcept;
    DecodeStatus ppp(Bytes frame) noexcept;
    DecodeStatus transport(std::uint8_t ip_protocol, Bytes segment,
                           std::uint32_t ip_payload_length) noexcept;
    DecodeStatus udp(Bytes segment, std::uint32_t ip_payload_length) noexcept;
    // The tunnels are out of line, and rare: the plain path (link, IP, TCP/UDP) stays one
    // inlined function, which the recursion through tunnels would otherwise break up (it cost 8%
    // of the benchmark's time).
    [[gnu::noinline, gnu::cold]] DecodeStatus unwrap_udp(TunnelKind kind, Bytes segment) noexcept;
    [[gnu::noinline, gnu::cold]] DecodeStatus unwrap_ip(std::uint8_t ip_protocol,
                                                        Bytes segment) noexcept;
    [[gnu::noinline, gnu::cold]] DecodeStatus unwrap_ethertype(std::uint16_t type,
                                                               Bytes payload) noexcept;
    DecodeStatus udp_tunnel(TunnelKind kind, Bytes payload, bool& parsed) noexcept;
    DecodeStatus gre(Bytes packet) noexcept;
    DecodeStatus mpls(Bytes stack) noexcept;
    void name_mpls_tunnel(std::uint32_t label) noexcept;
    DecodeStatus pppoe(Bytes session) noexcept;
    DecodeStatus nsh(Bytes packet) noexcept;
    DecodeStatus pim_register(Bytes message) noexcept;
    DecodeStatus macsec(Bytes payload) noexcept;
    // Link types other than Ethernet and raw IP, out of line for the same reason as tunnels.
    [[gnu::noinline, gnu::cold]] DecodeStatus other_link(LinkType link_type, Bytes frame) noexcept;
    DecodeStatus ieee802_11(Bytes frame) noexcept;
    DecodeStatus radiotap(Bytes frame) noexcept;
    DecodeStatus prism_or_avs(Bytes frame) noexcept;
    DecodeStatus arcnet(Bytes frame, bool linux_header) noexcept;
    DecodeStatus nflog(Bytes frame) noexcept;
    DecodeStatus pktap(Bytes frame) noexcept;
    DecodeStatus juniper_ether(Bytes frame) noexcept;
    DecodeStatus ipoib(Bytes frame) noexcept;
    // Enters one more encapsulation: the first one's kind, id and outer addresses are recorded.
    bool enter(TunnelKind kind, bool has_id, std::uint32_t id, bool outer_ip) noexcept;

    const DecodeOptions& options_;
    DecodedPacket& packet_;
    TunnelInfo* tunnel_;      // where the outermost tunnel goes, if anywhere
    SegmentPath* segment_;    // where the VLANs and tunnels go, if anywhere
    std::uint8_t depth_ = 0;  // encapsulations entered so far
};

// Appends one VLAN or tunnel to the segment path, when one is asked for.
void add_hop(SegmentPath* segment, TunnelKind kind, bool has_id, std::uint32_t id) noexcept {
    if (segment == nullptr || segment->count == SegmentPath::capacity) return;
    segment->hops[segment->count++] = {kind, has_id, id};
}

bool Decoder::enter(TunnelKind kind, bool has_id, std::uint32_t id, bool outer_ip) noexcept {
    if (depth_ >= max_tunnel_depth) return false;
    add_hop(segment_, kind, has_id, id);
    if (depth_++ == 0 && tunnel_ != nullptr) {
        *tunnel_ = TunnelInfo{};
        tunnel_->kind = kind;
        tunnel_->has_id = has_id;
        tunnel_->id = id;
        if (outer_ip) {
            tunnel_->outer_source = packet_.source.address;
            tunnel_->outer_destination = packet_.destination.address;
        }
    }
    return true;
}

// `segment` holds the captured transport bytes; `ip_payload_length` is what the IP header says
// the payload is, which may be longer when the snaplen cut the frame.
DecodeStatus Decoder::transport(std::uint8_t ip_protocol, Bytes segment,
                                std::uint32_t ip_payload_length) noexcept {
    if (ip_protocol == ip_protocol_tcp) {
        if (segment.size() < 20) return DecodeStatus::truncated_tcp;
        const std::uint32_t header_length = (segment[12] >> 4) * 4u;
        if (header_length < 20 || header_length > ip_payload_length) {
            return DecodeStatus::bad_tcp_header;
        }
        packet_.protocol = Protocol::tcp;
        packet_.source.port = load16(&segment[0]);
        packet_.destination.port = load16(&segment[2]);
        packet_.sequence = load32(&segment[4]);
        packet_.acknowledgment = load32(&segment[8]);
        packet_.tcp_flags = segment[13];
        packet_.transport_checksum = load16(&segment[16]);
        packet_.payload_length = ip_payload_length - header_length;
        const std::size_t captured_header = std::min<std::size_t>(header_length, segment.size());
        const Bytes options = segment.subspan(20, captured_header - 20);
        read_tcp_timestamp(options, packet_);
        if ((packet_.tcp_flags & (tcp_flag::syn | tcp_flag::ack)) == tcp_flag::syn) {
            packet_.syn_option_layout = tcp_option_layout(options);
        }
        return DecodeStatus::ok;
    }
    if (ip_protocol == ip_protocol_udp) return udp(segment, ip_payload_length);
    if (!options_.decapsulate) return DecodeStatus::unsupported_transport;
    return unwrap_ip(ip_protocol, segment);
}

DecodeStatus Decoder::unwrap_ip(std::uint8_t ip_protocol, Bytes segment) noexcept {
    switch (ip_protocol) {
        case ip_protocol_ipip:
        case ip_protocol_ipv6:
            if (!enter(TunnelKind::ip_in_ip, false, 0, true)) return DecodeStatus::tunnel_too_deep;
            return ip_protocol == ip_protocol_ipip ? ipv4(segment) : ipv6(segment);
        case ip_protocol_gre:
            return gre(segment);
        case ip_protocol_mpls:
            if (!enter(TunnelKind::mpls, false, 0, true)) return DecodeStatus::tunnel_too_deep;
            return mpls(segment);
        case ip_protocol_pim:
            return pim_register(segment);
        default:
            return DecodeStatus::unsupported_transport;
    }
}

DecodeStatus Decoder::udp(Bytes segment, std::uint32_t ip_payload_length) noexcept {
    if (segment.size() < 8) return DecodeStatus::truncated_udp;
    if (ip_payload_length < 8) return DecodeStatus::bad_udp_header;
    packet_.protocol = Protocol::udp;
    packet_.source.port = load16(&segment[0]);
    packet_.destination.port = load16(&segment[2]);
    packet_.payload_length = ip_payload_length - 8;
    packet_.transport_checksum = load16(&segment[6]);
    if (!options_.decapsulate) return DecodeStatus::ok;
    TunnelKind kind = options_.ports.kind_of(packet_.destination.port);
    if (kind == TunnelKind::none) kind = options_.ports.kind_of(packet_.source.port);
    if (kind == TunnelKind::none) return DecodeStatus::ok;
    return unwrap_udp(kind, segment);
}

DecodeStatus Decoder::unwrap_udp(TunnelKind kind, Bytes segment) noexcept {
    // A datagram on a tunnel port that does not parse as that tunnel stays what it is: the
    // packet as the outer headers left it is put back.
    const DecodedPacket outer = packet_;
    const std::uint8_t outer_depth = depth_;
    bool parsed = false;
    const DecodeStatus status = udp_tunnel(kind, segment.subspan(8), parsed);
    if (parsed) return status;
    packet_ = outer;
    depth_ = outer_depth;  // the tunnel was never entered: its header did not parse
    return DecodeStatus::ok;
}

// Unwraps one UDP tunnel. `parsed` says whether its header was that tunnel's: if not, the
// datagram is an ordinary one.
DecodeStatus Decoder::udp_tunnel(TunnelKind kind, Bytes payload, bool& parsed) noexcept {
    switch (kind) {
        case TunnelKind::vxlan: {
            // Flags with the I bit (a valid VNI), then the 24-bit VNI; an Ethernet frame follows.
            if (payload.size() < 8 || (payload[0] & 0x08) == 0) return DecodeStatus::ok;
            parsed = true;
            if (!enter(kind, true, load24(&payload[4]), true)) return DecodeStatus::tunnel_too_deep;
            return ethernet(payload.subspan(8));
        }
        case TunnelKind::vxlan_gpe: {
            // The P bit says the next-protocol byte is there: 1 IPv4, 2 IPv6, 3 Ethernet, 5 MPLS.
            if (payload.size() < 8 || (payload[0] & 0x04) == 0 || (payload[0] >> 6) != 0) {
                return DecodeStatus::ok;
            }
            parsed = true;
            if (!enter(kind, true, load24(&payload[4]), true)) return DecodeStatus::tunnel_too_deep;
            const Bytes inner = payload.subspan(8);
            switch (payload[3]) {
                case 1:
                    return ipv4(inner);
                case 2:
                    return ipv6(inner);
                case 3:
                    return ethernet(inner);
                case 4:
                    return nsh(inner);
                case 5:
                    return mpls(inner);
                default:
                    return DecodeStatus::unsupported_tunnel;
            }
        }
        case TunnelKind::geneve: {
            // Version 0; options of `length` 4-byte words; the protocol as an ethertype.
            if (payload.size() < 8 || (payload[0] >> 6) != 0) return DecodeStatus::ok;
            parsed = true;
            const std::size_t header = 8 + (payload[0] & 0x3f) * 4u;
            if (payload.size() < header) return DecodeStatus::truncated_tunnel;
            if (!enter(kind, true, load24(&payload[4]), true)) return DecodeStatus::tunnel_too_deep;
            const std::uint16_t type = load16(&payload[2]);
            const Bytes inner = payload.subspan(header);
            if (type == ethertype_bridged) return ethernet(inner);
            return ethertype(type, inner);
        }
        case TunnelKind::gtp_u: {
            // Version 1, protocol type GTP, a G-PDU (255): the user's IP packet after the header
            // (8 bytes, 4 more with any of E, S, PN, then the extension headers E announces).
            if (payload.size() < 8 || (payload[0] >> 5) != 1 || (payload[0] & 0x10) == 0 ||
                payload[1] != 0xff) {
                return DecodeStatus::ok;
            }
            parsed = true;
            std::size_t at = 8;
            std::uint8_t next_extension = 0;
            if ((payload[0] & 0x07) != 0) {
                if (payload.size() < 12) return DecodeStatus::truncated_tunnel;
                next_extension = (payload[0] & 0x04) != 0 ? payload[11] : 0;
                at = 12;
            }
            while (next_extension != 0) {  // each is a multiple of 4 bytes, ending in the next type
                if (at >= payload.size()) return DecodeStatus::truncated_tunnel;
                const std::size_t length = payload[at] * 4u;
                if (length == 0) return DecodeStatus::unsupported_tunnel;
                if (at + length > payload.size()) return DecodeStatus::truncated_tunnel;
                next_extension = payload[at + length - 1];
                at += length;
            }
            if (!enter(kind, true, load32(&payload[4]), true)) return DecodeStatus::tunnel_too_deep;
            return ip_by_version(payload.subspan(at));
        }
        case TunnelKind::teredo: {
            // IPv6, after an optional authentication and an optional origin indication.
            std::size_t at = 0;
            if (payload.size() >= 2 && load16(&payload[0]) == 0x0001) {
                if (payload.size() < 4) return DecodeStatus::ok;
                at = 4 + payload[2] + payload[3] + 8 + 1;  // ids, value, nonce, confirmation
            }
            if (payload.size() >= at + 2 && load16(&payload[at]) == 0x0000) at += 8;
            if (payload.size() < at + 40 || (payload[at] >> 4) != 6) return DecodeStatus::ok;
            parsed = true;
            if (!enter(kind, false, 0, true)) return DecodeStatus::tunnel_too_deep;
            return ipv6(payload.subspan(at));
        }
        case TunnelKind::mpls_udp:
            if (payload.size() < 4) return DecodeStatus::ok;
            parsed = true;
            if (!enter(kind, true, load32(&payload[0]) >> 12, true)) {
                return DecodeStatus::tunnel_too_deep;
            }
            return mpls(payload);
        default:
            return DecodeStatus::ok;
    }
}

// GRE (RFC 2784/2890; version 1 is PPTP's): checksum, key and sequence fields as its flags say;
// then IPv4, IPv6, an Ethernet frame (transparent bridging), MPLS, ERSPAN I, II and III, or PPP.
DecodeStatus Decoder::gre(Bytes packet) noexcept {
    if (packet.size() < 4) return DecodeStatus::truncated_tunnel;
    const std::uint16_t flags = load16(&packet[0]);
    const std::uint16_t type = load16(&packet[2]);
    const unsigned version = flags & 0x7;
    const bool checksum = (flags & 0x8000) != 0;
    const bool routing = (flags & 0x4000) != 0;
    const bool key = (flags & 0x2000) != 0;
    const bool sequence = (flags & 0x1000) != 0;
    const bool acknowledgment = (flags & 0x0080) != 0;
    if (version > 1 || routing) return DecodeStatus::unsupported_tunnel;
    std::size_t at = 4 + (checksum ? 4 : 0);
    std::uint32_t id = 0;
    if (key) {
        if (packet.size() < at + 4) return DecodeStatus::truncated_tunnel;
        id = load32(&packet[at]);
        at += 4;
    }
    at += (sequence ? 4 : 0) + (version == 1 && acknowledgment ? 4 : 0);
    if (packet.size() < at) return DecodeStatus::truncated_tunnel;
    if (!enter(TunnelKind::gre, key, id, true)) return DecodeStatus::tunnel_too_deep;
    const Bytes inner = packet.subspan(at);
    switch (type) {
        case ethertype_bridged:
            return ethernet(inner);
        case ethertype_erspan_ii: {
            if (!sequence) return ethernet(inner);  // type I: no header of its own
            if (inner.size() < 8) return DecodeStatus::truncated_tunnel;
            return ethernet(inner.subspan(8));
        }
        case ethertype_erspan_iii: {
            // 12 bytes; the O bit announces an 8-byte platform subheader; frame type 0 is
            // Ethernet, 2 an IP packet.
            if (inner.size() < 12) return DecodeStatus::truncated_tunnel;
            const std::size_t header = 12 + ((inner[11] & 0x01) != 0 ? 8 : 0);
            if (inner.size() < header) return DecodeStatus::truncated_tunnel;
            const unsigned frame_type = (inner[10] >> 2) & 0x1f;
            if (frame_type == 0) return ethernet(inner.subspan(header));
            if (frame_type == 2) return ip_by_version(inner.subspan(header));
            return DecodeStatus::unsupported_tunnel;
        }
        case ethertype_ppp:
            return ppp(inner);
        case ethertype_wccp:
            if (inner.size() < 4) return DecodeStatus::truncated_tunnel;
            return ip_by_version(inner.subspan(4));
        case ethertype_cisco_metadata:
            // In GRE the next ethertype comes first, then version, length, option and the tag.
            if (inner.size() < 8) return DecodeStatus::truncated_tunnel;
            return ethertype(load16(&inner[0]), inner.subspan(8));
        default:
            return ethertype(type, inner);
    }
}

// An MPLS label stack (its first label is the tunnel's id when MPLS is the outermost tunnel),
// then IPv4 or IPv6 by the version nibble, or an Ethernet pseudowire, with or without its control
// word (a first nibble of 0).
DecodeStatus Decoder::mpls(Bytes stack) noexcept {
    std::size_t at = 0;
    for (int labels = 0;; ++labels) {
        if (stack.size() < at + 4) return DecodeStatus::truncated_tunnel;
        if (labels == 0) name_mpls_tunnel(load32(&stack[at]) >> 12);
        const bool bottom = (stack[at + 2] & 0x01) != 0;
        at += 4;
        if (bottom) break;
        if (labels >= 16) return DecodeStatus::unsupported_tunnel;
    }
    const Bytes inner = stack.subspan(at);
    if (inner.empty()) return DecodeStatus::truncated_tunnel;
    switch (inner[0] >> 4) {
        case 4:
            return ipv4(inner);
        case 6:
            return ipv6(inner);
        case 0:
            if (inner.size() < 4) return DecodeStatus::truncated_tunnel;
            return ethernet(inner.subspan(4));
        default:
            return ethernet(inner);
    }
}

// An MPLS tunnel is entered before its stack is read: its top label names it once it is.
void Decoder::name_mpls_tunnel(std::uint32_t label) noexcept {
    if (depth_ == 1 && tunnel_ != nullptr && tunnel_->kind == TunnelKind::mpls) {
        tunnel_->has_id = true;
        tunnel_->id = label;
    }
    if (segment_ != nullptr && segment_->count > 0) {
        SegmentHop& hop = segment_->hops[segment_->count - 1];
        if (hop.kind == TunnelKind::mpls && !hop.has_id) hop = {TunnelKind::mpls, true, label};
    }
}

// A PPPoE session (RFC 2516): version and type 0x11, code 0, the session id and length, then a
// PPP protocol number.
DecodeStatus Decoder::pppoe(Bytes session) noexcept {
    if (session.size() < 8) return DecodeStatus::truncated_tunnel;
    if (session[0] != 0x11 || session[1] != 0) return DecodeStatus::unsupported_tunnel;
    if (!enter(TunnelKind::pppoe, true, load16(&session[2]), false)) {
        return DecodeStatus::tunnel_too_deep;
    }
    return ppp(session.subspan(6));
}

// A PPP frame: an optional address and control (0xff 0x03), then the protocol, in one byte when
// compressed (odd) or two.
DecodeStatus Decoder::ppp(Bytes frame) noexcept {
    if (frame.size() >= 2 && frame[0] == 0xff && frame[1] == 0x03) frame = frame.subspan(2);
    if (frame.empty()) return DecodeStatus::truncated_link;
    std::uint16_t protocol = frame[0];
    std::size_t header = 1;
    if ((frame[0] & 0x01) == 0) {
        if (frame.size() < 2) return DecodeStatus::truncated_link;
        protocol = load16(&frame[0]);
        header = 2;
    }
    if (protocol == ppp_ipv4) return ipv4(frame.subspan(header));
    if (protocol == ppp_ipv6) return ipv6(frame.subspan(header));
    if ((protocol == ppp_mpls || protocol == ppp_mpls_multicast) && options_.decapsulate) {
        if (!enter(TunnelKind::mpls, false, 0, false)) return DecodeStatus::tunnel_too_deep;
        return mpls(frame.subspan(header));
    }
    return DecodeStatus::non_ip;
}

DecodeStatus Decoder::ipv4(Bytes datagram) noexcept {
    if (datagram.size() < 20) return DecodeStatus::truncated_ip;
    if ((datagram[0] >> 4) != 4) return DecodeStatus::bad_ip_header;
    const std::size_t header_length = (datagram[0] & 0x0f) * 4u;
    if (header_length < 20) return DecodeStatus::bad_ip_header;
    if (datagram.size() < header_length) return DecodeStatus::truncated_ip;
    std::size_t total_length = load16(&datagram[2]);
    // A total length of 0 is what segmentation offload leaves on outgoing frames: trust the frame.
    if (total_length == 0) total_length = datagram.size();
    if (total_length < header_length) return DecodeStatus::bad_ip_header;
    const std::uint16_t fragment_offset = load16(&datagram[6]) & 0x1fff;
    if (fragment_offset != 0) return DecodeStatus::non_first_fragment;

    packet_.ip_id = load16(&datagram[4]);
    packet_.ttl = datagram[8];
    set_address(packet_.source.address, Family::ipv4, &datagram[12]);
    set_address(packet_.destination.address, Family::ipv4, &datagram[16]);
    // Ethernet pads short frames: the IP length, not the frame, says where the datagram ends.
    const std::size_t captured_end = std::min(total_length, datagram.size());
    return transport(datagram[9], datagram.subspan(header_length, captured_end - header_length),
                     static_cast<std::uint32_t>(total_length - header_length));
}

bool is_ipv6_extension(std::uint8_t next_header) noexcept {
    switch (next_header) {
        case 0:    // hop-by-hop options
        case 43:   // routing
        case 60:   // destination options
        case 135:  // mobility
        case 139:  // HIP
        case 140:  // shim6
            return true;
        default:
            return false;
    }
}

DecodeStatus Decoder::ipv6(Bytes datagram) noexcept {
    constexpr std::size_t fixed_header = 40;
    constexpr std::uint8_t next_fragment = 44;
    constexpr std::uint8_t next_authentication = 51;
    if (datagram.size() < fixed_header) return DecodeStatus::truncated_ip;
    if ((datagram[0] >> 4) != 6) return DecodeStatus::bad_ip_header;
    std::size_t payload_length = load16(&datagram[4]);
    // 0 means a jumbogram or an offloaded segment: the frame is all there is to go by.
    if (payload_length == 0) payload_length = datagram.size() - fixed_header;
    const std::size_t datagram_end = fixed_header + payload_length;
    const std::size_t captured_end = std::min(datagram_end, datagram.size());

    std::uint8_t next_header = datagram[6];
    std::size_t at = fixed_header;
    // Each header moves `at` forward by at least 8 bytes, so the walk ends within the datagram.
    for (;;) {
        if (is_ipv6_extension(next_header) || next_header == next_authentication) {
            if (at + 2 > captured_end) return DecodeStatus::truncated_ip;
            const std::size_t length = next_header == next_authentication
                                           ? (datagram[at + 1] + 2u) * 4u
                                           : (datagram[at + 1] + 1u) * 8u;
            next_header = datagram[at];
            at += length;
        } else if (next_header == next_fragment) {
            if (at + 8 > captured_end) return DecodeStatus::truncated_ip;
            if ((load16(&datagram[at + 2]) >> 3) != 0) {
                return DecodeStatus::non_first_fragment;
            }
            next_header = datagram[at];
            at += 8;
        } else {
            break;
        }
        if (at > datagram_end) return DecodeStatus::bad_ip_header;
        if (at > captured_end) return DecodeStatus::truncated_ip;
    }

    packet_.ttl = datagram[7];
    set_address(packet_.source.address, Family::ipv6, &datagram[8]);
    set_address(packet_.destination.address, Family::ipv6, &datagram[24]);
    return transport(next_header, datagram.subspan(at, captured_end - at),
                     static_cast<std::uint32_t>(datagram_end - at));
}

DecodeStatus Decoder::ip_by_version(Bytes datagram) noexcept {
    if (datagram.empty()) return DecodeStatus::truncated_ip;
    switch (datagram[0] >> 4) {
        case 4:
            return ipv4(datagram);
        case 6:
            return ipv6(datagram);
        default:
            return DecodeStatus::bad_ip_header;
    }
}

// Walks any stack of VLAN tags, then dispatches on the innermost ethertype.
DecodeStatus Decoder::ethertype(std::uint16_t type, Bytes payload) noexcept {
    while (type == ethertype_vlan || type == ethertype_qinq || type == ethertype_qinq_old) {
        if (payload.size() < 4) return DecodeStatus::truncated_link;
        if (segment_ != nullptr) [[unlikely]]
            add_hop(segment_, TunnelKind::none, true, load16(&payload[0]) & 0x0fff);
        type = load16(&payload[2]);
        payload = payload.subspan(4);
    }
    if (type == ethertype_ipv4) return ipv4(payload);
    if (type == ethertype_ipv6) return ipv6(payload);
    if (!options_.decapsulate) return DecodeStatus::non_ip;
    return unwrap_ethertype(type, payload);
}

DecodeStatus Decoder::unwrap_ethertype(std::uint16_t type, Bytes payload) noexcept {
    if (type == ethertype_mpls || type == ethertype_mpls_multicast) {
        if (!enter(TunnelKind::mpls, false, 0, false)) return DecodeStatus::tunnel_too_deep;
        return mpls(payload);
    }
    switch (type) {
        case ethertype_pppoe_session:
            return pppoe(payload);
        case ethertype_macsec:
            return macsec(payload);
        case ethertype_cisco_metadata:  // version, length, option, the tag; then the ethertype
            if (payload.size() < 8) return DecodeStatus::truncated_link;
            return ethertype(load16(&payload[6]), payload.subspan(8));
        case ethertype_vn_tag:  // 4 bytes of tag, then the ethertype
            if (payload.size() < 6) return DecodeStatus::truncated_link;
            return ethertype(load16(&payload[4]), payload.subspan(6));
        case ethertype_pbb:
            // The I-tag (flags and a 24-bit service instance id), then the customer's frame.
            if (payload.size() < 4) return DecodeStatus::truncated_tunnel;
            if (!enter(TunnelKind::pbb, true, load24(&payload[1]), false)) {
                return DecodeStatus::tunnel_too_deep;
            }
            return ethernet(payload.subspan(4));
        case ethertype_fabricpath:
            // The FabricPath tag's last 2 bytes (forwarding tag, TTL), then the classic frame.
            if (payload.size() < 2) return DecodeStatus::truncated_tunnel;
            if (!enter(TunnelKind::fabricpath, false, 0, false)) {
                return DecodeStatus::tunnel_too_deep;
            }
            return ethernet(payload.subspan(2));
        case ethertype_nsh:
            return nsh(payload);
        default:
            return DecodeStatus::non_ip;
    }
}

// A network service header (RFC 8300): its length in 4-byte words, the service path (24-bit id),
// then IPv4, IPv6, Ethernet, another NSH or MPLS as its next-protocol byte says.
DecodeStatus Decoder::nsh(Bytes packet) noexcept {
    if (packet.size() < 8) return DecodeStatus::truncated_tunnel;
    if ((packet[0] >> 6) != 0) return DecodeStatus::unsupported_tunnel;
    const std::size_t header = (packet[1] & 0x3f) * 4u;
    if (header < 8) return DecodeStatus::unsupported_tunnel;
    if (packet.size() < header) return DecodeStatus::truncated_tunnel;
    if (!enter(TunnelKind::nsh, true, load24(&packet[4]), depth_ == 0)) {
        return DecodeStatus::tunnel_too_deep;
    }
    const Bytes inner = packet.subspan(header);
    switch (packet[3]) {
        case 1:
            return ipv4(inner);
        case 2:
            return ipv6(inner);
        case 3:
            return ethernet(inner);
        case 4:
            return nsh(inner);
        case 5:
            return mpls(inner);
        default:
            return DecodeStatus::unsupported_tunnel;
    }
}

// A PIM Register (RFC 7761, type 1): 4 bytes of PIM header and 4 of flags, then the multicast
// packet the designated router forwards to its rendezvous point. Other PIM messages carry no
// ports.
DecodeStatus Decoder::pim_register(Bytes message) noexcept {
    if (message.size() < 8) return DecodeStatus::unsupported_transport;
    if (message[0] != 0x21) return DecodeStatus::unsupported_transport;  // version 2, Register
    if ((load32(&message[4]) & 0x40000000) != 0) return DecodeStatus::non_ip;  // a null register
    if (!enter(TunnelKind::pim_register, false, 0, true)) return DecodeStatus::tunnel_too_deep;
    return ip_by_version(message.subspan(8));
}

// An 802.1AE MACsec SecTAG: the TCI byte says whether an 8-byte SCI follows and whether the
// data are encrypted (E and C set): only integrity-protected frames can be read.
DecodeStatus Decoder::macsec(Bytes payload) noexcept {
    if (payload.size() < 6) return DecodeStatus::truncated_link;
    const std::uint8_t tci = payload[0];
    if ((tci & 0x80) != 0) return DecodeStatus::non_ip;  // version 1 does not exist yet
    if ((tci & 0x0c) != 0) return DecodeStatus::encrypted;
    const std::size_t header = 6 + ((tci & 0x20) != 0 ? 8 : 0);
    if (payload.size() < header + 2) return DecodeStatus::truncated_link;
    return ethertype(load16(&payload[header]), payload.subspan(header + 2));
}

// An Ethernet frame inside a tunnel.
DecodeStatus Decoder::ethernet(Bytes frame) noexcept {
    if (frame.size() < 14) return DecodeStatus::truncated_tunnel;
    return ethertype(load16(&frame[12]), frame.subspan(14));
}

// BSD loopback carries the address family as a 32-bit word: host byte order of the capturing
// machine for DLT_NULL, network order for DLT_LOOP. Both orders are tried, since the capturing
// machine is unknown; the values do not collide.
DecodeStatus Decoder::loopback(Bytes frame) noexcept {
    if (frame.size() < 4) return DecodeStatus::truncated_link;
    const std::uint32_t big = load32(&frame[0]);
    const std::uint32_t little = (std::uint32_t{frame[3]} << 24) | (std::uint32_t{frame[2]} << 16) |
                                 (std::uint32_t{frame[1]} << 8) | frame[0];
    auto is_family = [&](std::uint32_t value) { return big == value || little == value; };
    const Bytes datagram = frame.subspan(4);
    if (is_family(2)) return ipv4(datagram);
    // AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
    if (is_family(10) || is_family(24) || is_family(28) || is_family(30)) {
        return ipv6(datagram);
    }
    return DecodeStatus::non_ip;
}

DecodeStatus Decoder::link(LinkType link_type, Bytes frame) noexcept {
    switch (link_type) {
        case LinkType::ethernet:
            if (frame.size() < 14) return DecodeStatus::truncated_link;
            return ethertype(load16(&frame[12]), frame.subspan(14));
        case LinkType::linux_sll:
            if (frame.size() < 16) return DecodeStatus::truncated_link;
            return ethertype(load16(&frame[14]), frame.subspan(16));
        case LinkType::linux_sll2:
            if (frame.size() < 20) return DecodeStatus::truncated_link;
            return ethertype(load16(&frame[0]), frame.subspan(20));
        case LinkType::raw:
        case LinkType::raw_openbsd:
        case LinkType::raw_linktype:
            return ip_by_version(frame);
        case LinkType::ipv4:
            return ipv4(frame);
        case LinkType::ipv6:
            return ipv6(frame);
        case LinkType::null:
        case LinkType::loop:
            return loopback(frame);
        case LinkType::ppp:
        case LinkType::ppp_serial:
            return ppp(frame);
        case LinkType::c_hdlc:
            // Address, control, then the protocol as an ethertype.
            if (frame.size() < 4) return DecodeStatus::truncated_link;
            return ethertype(load16(&frame[2]), frame.subspan(4));
        default:
            return other_link(link_type, frame);
    }
}

DecodeStatus Decoder::other_link(LinkType link_type, Bytes frame) noexcept {
    switch (link_type) {
        case LinkType::ieee802_11:
            return ieee802_11(frame);
        case LinkType::radiotap:
            return radiotap(frame);
        case LinkType::prism:
        case LinkType::avs:
            return prism_or_avs(frame);
        case LinkType::arcnet:
            return arcnet(frame, false);
        case LinkType::arcnet_linux:
            return arcnet(frame, true);
        case LinkType::nflog:
            return nflog(frame);
        case LinkType::pktap:
        case LinkType::pktap_apple:
            return pktap(frame);
        case LinkType::juniper_ether:
            return juniper_ether(frame);
        case LinkType::ipoib:
            return ipoib(frame);
        default:
            return DecodeStatus::unsupported_link;
    }
}

// An 802.11 frame. Only data frames carry IP: after the header (24 bytes; 30 with a fourth
// address; 2 more for QoS; 4 more for an HT control field) an LLC/SNAP header gives the
// ethertype. Protected frames cannot be read; management and control frames carry no ports.
DecodeStatus Decoder::ieee802_11(Bytes frame) noexcept {
    if (frame.size() < 2) return DecodeStatus::truncated_link;
    const std::uint8_t control = frame[0];
    const std::uint8_t flags = frame[1];
    const unsigned type = (control >> 2) & 0x3;
    const unsigned subtype = control >> 4;
    constexpr unsigned type_data = 2;
    if (type != type_data || (subtype & 0x4) != 0) return DecodeStatus::non_ip;  // or null data
    if ((flags & 0x40) != 0) return DecodeStatus::encrypted;
    const bool qos = (subtype & 0x8) != 0;
    std::size_t header = 24 + ((flags & 0x3) == 0x3 ? 6 : 0);
    bool aggregate = false;
    if (qos) {
        if (frame.size() < header + 2) return DecodeStatus::truncated_link;
        aggregate = (frame[header] & 0x80) != 0;  // an A-MSDU: the first subframe is read
        header += 2 + ((flags & 0x80) != 0 ? 4 : 0);
    }
    if (aggregate) header += 14;  // the subframe's destination, source and length
    if (frame.size() < header + 8) return DecodeStatus::truncated_link;
    const Bytes llc = frame.subspan(header);
    if (llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03) return DecodeStatus::non_ip;
    return ethertype(load16(&llc[6]), llc.subspan(8));
}

// Radiotap: version 0 and its own length (little-endian), then the 802.11 frame.
DecodeStatus Decoder::radiotap(Bytes frame) noexcept {
    if (frame.size() < 4) return DecodeStatus::truncated_link;
    const std::size_t length = load16_little(&frame[2]);
    if (frame[0] != 0 || length < 8) return DecodeStatus::non_ip;
    if (frame.size() < length) return DecodeStatus::truncated_link;
    return ieee802_11(frame.subspan(length));
}

// A Prism monitor header (144 bytes, its length in host byte order at offset 4), or an AVS one
// (magic 0x8021100x, its length big-endian at offset 4), then the 802.11 frame. libpcap writes
// either under DLT_PRISM_HEADER.
DecodeStatus Decoder::prism_or_avs(Bytes frame) noexcept {
    if (frame.size() < 8) return DecodeStatus::truncated_link;
    std::size_t length = 0;
    if ((load32(&frame[0]) & 0xfffffff0) == 0x80211000) {
        length = load32(&frame[4]);
    } else {
        length = load32_little(&frame[4]);
        if (length > 0xffff) length = load32(&frame[4]);
    }
    if (length < 8 || frame.size() < length) return DecodeStatus::truncated_link;
    return ieee802_11(frame.subspan(length));
}

// ARCNET (RFC 1051 and RFC 1201 framing): source, destination, on Linux a 2-byte offset, then
// the protocol id; RFC 1201 adds a split flag and a sequence number (and 4 bytes more for an
// exception packet).
DecodeStatus Decoder::arcnet(Bytes frame, bool linux_header) noexcept {
    const std::size_t at = linux_header ? 4 : 2;
    if (frame.size() < at + 1) return DecodeStatus::truncated_link;
    const std::uint8_t protocol = frame[at];
    constexpr std::uint8_t rfc1051_ip = 0xf0;
    constexpr std::uint8_t rfc1201_ip = 0xd4;
    constexpr std::uint8_t rfc1201_ipv6 = 0xc4;
    if (protocol == rfc1051_ip) return ipv4(frame.subspan(at + 1));
    if (protocol != rfc1201_ip && protocol != rfc1201_ipv6) return DecodeStatus::non_ip;
    if (frame.size() < at + 4) return DecodeStatus::truncated_link;
    const std::size_t header = at + 4 + (frame[at + 1] == 0xff ? 4 : 0);
    if (frame.size() < header) return DecodeStatus::truncated_link;
    return protocol == rfc1201_ip ? ipv4(frame.subspan(header)) : ipv6(frame.subspan(header));
}

// Linux NFLOG: family, version and group, then type-length-value attributes (length and type in
// the capturing host's byte order, little-endian on every Linux this is likely to come from;
// lengths include the 4-byte attribute header and are padded to 4). NFULA_PAYLOAD (9) is the
// logged IP packet.
DecodeStatus Decoder::nflog(Bytes frame) noexcept {
    constexpr std::uint16_t attribute_payload = 9;
    if (frame.size() < 4) return DecodeStatus::truncated_link;
    std::size_t at = 4;
    while (at + 4 <= frame.size()) {
        const std::size_t length = load16_little(&frame[at]);
        const std::uint16_t type = load16_little(&frame[at + 2]) & 0x7fff;
        if (length < 4 || at + length > frame.size()) return DecodeStatus::truncated_link;
        if (type == attribute_payload) return ip_by_version(frame.subspan(at + 4, length - 4));
        at += (length + 3) & ~std::size_t{3};
    }
    return DecodeStatus::non_ip;
}

// Apple PKTAP: a header (its length and the inner link type little-endian, as macOS writes
// them) with the process that sent the packet, then a frame of that link type. A PKTAP inside a
// PKTAP is refused, so the inner frame cannot lead here again.
DecodeStatus Decoder::pktap(Bytes frame) noexcept {
    if (frame.size() < 12) return DecodeStatus::truncated_link;
    const std::uint32_t length = load32_little(&frame[0]);
    const auto inner = static_cast<LinkType>(load32_little(&frame[8]));
    if (length < 12 || frame.size() < length) return DecodeStatus::truncated_link;
    if (inner == LinkType::pktap || inner == LinkType::pktap_apple) {
        return DecodeStatus::unsupported_link;
    }
    return link(inner, frame.subspan(length));
}

// Juniper's capture header: the magic "MGC", flags, an extension block when flag 0x80 says so;
// then the Ethernet frame, or (flag 0x02, no layer 2) a 4-byte protocol family and an IP packet.
DecodeStatus Decoder::juniper_ether(Bytes frame) noexcept {
    if (frame.size() < 4) return DecodeStatus::truncated_link;
    if (frame[0] != 'M' || frame[1] != 'G' || frame[2] != 'C') return DecodeStatus::non_ip;
    const std::uint8_t flags = frame[3];
    std::size_t header = 4;
    if ((flags & 0x80) != 0) {
        if (frame.size() < 6) return DecodeStatus::truncated_link;
        header = 6 + load16(&frame[4]);
    }
    if ((flags & 0x02) != 0) header += 4;
    if (frame.size() < header) return DecodeStatus::truncated_link;
    if ((flags & 0x02) != 0) return ip_by_version(frame.subspan(header));
    if (frame.size() < header + 14) return DecodeStatus::truncated_link;
    return ethertype(load16(&frame[header + 12]), frame.subspan(header + 14));
}

// IP over InfiniBand as Linux captures it: a 20-byte pseudo destination address (QPN and GID),
// 20 bytes more, then the ethertype and 2 reserved bytes.
DecodeStatus Decoder::ipoib(Bytes frame) noexcept {
    if (frame.size() < 44) return DecodeStatus::truncated_link;
    return ethertype(load16(&frame[40]), frame.subspan(44));
}

}  // namespace

std::string_view reason_name(DecodeStatus status) noexcept {
    switch (status) {
        case DecodeStatus::ok:
            return "ok";
        case DecodeStatus::unsupported_link:
            return "unsupported-link";
        case DecodeStatus::truncated_link:
            return "truncated-link";
        case DecodeStatus::non_ip:
            return "non-ip";
        case DecodeStatus::truncated_ip:
            return "truncated-ip";
        case DecodeStatus::bad_ip_header:
            return "bad-ip-header";
        case DecodeStatus::non_first_fragment:
            return "non-first-fragment";
        case DecodeStatus::unsupported_transport:
            return "unsupported-transport";
        case DecodeStatus::truncated_tcp:
            return "truncated-tcp";
        case DecodeStatus::bad_tcp_header:
            return "bad-tcp-header";
        case DecodeStatus::truncated_udp:
            return "truncated-udp";
        case DecodeStatus::bad_udp_header:
            return "bad-udp-header";
        case DecodeStatus::truncated_tunnel:
            return "truncated-tunnel";
        case DecodeStatus::tunnel_too_deep:
            return "tunnel-too-deep";
        case DecodeStatus::unsupported_tunnel:
            return "unsupported-tunnel";
        case DecodeStatus::encrypted:
            return "encrypted";
    }
    return "unknown";
}

std::string_view tunnel_name(TunnelKind kind) noexcept {
    switch (kind) {
        case TunnelKind::none:
            return "none";
        case TunnelKind::vxlan:
            return "vxlan";
        case TunnelKind::vxlan_gpe:
            return "vxlan-gpe";
        case TunnelKind::geneve:
            return "geneve";
        case TunnelKind::gtp_u:
            return "gtp-u";
        case TunnelKind::teredo:
            return "teredo";
        case TunnelKind::mpls_udp:
            return "mpls-udp";
        case TunnelKind::gre:
            return "gre";
        case TunnelKind::ip_in_ip:
            return "ip-in-ip";
        case TunnelKind::mpls:
            return "mpls";
        case TunnelKind::pppoe:
            return "pppoe";
        case TunnelKind::pbb:
            return "pbb";
        case TunnelKind::fabricpath:
            return "fabricpath";
        case TunnelKind::nsh:
            return "nsh";
        case TunnelKind::pim_register:
            return "pim-register";
    }
    return "none";
}

TunnelPorts TunnelPorts::defaults() noexcept {
    TunnelPorts ports;
    ports.add(4789, TunnelKind::vxlan);
    ports.add(8472, TunnelKind::vxlan);  // Linux's VXLAN port before IANA assigned 4789
    ports.add(4790, TunnelKind::vxlan_gpe);
    ports.add(6081, TunnelKind::geneve);
    ports.add(2152, TunnelKind::gtp_u);
    ports.add(3544, TunnelKind::teredo);
    ports.add(6635, TunnelKind::mpls_udp);
    return ports;
}

bool TunnelPorts::add(std::uint16_t port, TunnelKind kind) noexcept {
    for (std::size_t i = 0; i < size; ++i) {
        if (entries[i].first == port) {
            entries[i].second = kind;
            return true;
        }
    }
    if (size == capacity) return false;
    entries[size++] = {port, kind};
    seen |= std::uint64_t{1} << (port % 64);
    return true;
}

std::uint8_t tcp_option_layout(Bytes options) noexcept {
    // FNV-1a over the kinds kept, folded to a byte. NOPs count where a kept option follows them:
    // those after the last one, or beside an option left out, are its padding.
    std::uint32_t hash = 2166136261u;
    bool any = false;
    int nops = 0;
    for_each_tcp_option(options, [&](std::uint8_t kind, Bytes) {
        switch (kind) {
            case option_nop:
                ++nops;
                return true;
            case option_end:
            case option_mss:
            case option_window_scale:
            case option_sack_permitted:
            case option_timestamp:
                for (; nops > 0; --nops) hash = (hash ^ option_nop) * 16777619u;
                hash = (hash ^ kind) * 16777619u;
                any = true;
                return true;
            default:
                nops = 0;
                return true;
        }
    });
    if (!any) return 0;
    const auto folded = static_cast<std::uint8_t>(hash ^ hash >> 8 ^ hash >> 16 ^ hash >> 24);
    return folded == 0 ? 1 : folded;
}

bool is_supported_link(int link_type) noexcept {
    switch (static_cast<LinkType>(link_type)) {
        case LinkType::null:
        case LinkType::ethernet:
        case LinkType::raw:
        case LinkType::raw_openbsd:
        case LinkType::raw_linktype:
        case LinkType::loop:
        case LinkType::linux_sll:
        case LinkType::ipv4:
        case LinkType::ipv6:
        case LinkType::linux_sll2:
        case LinkType::ppp:
        case LinkType::ppp_serial:
        case LinkType::c_hdlc:
        case LinkType::ieee802_11:
        case LinkType::prism:
        case LinkType::radiotap:
        case LinkType::arcnet:
        case LinkType::arcnet_linux:
        case LinkType::pktap_apple:
        case LinkType::avs:
        case LinkType::juniper_ether:
        case LinkType::nflog:
        case LinkType::ipoib:
        case LinkType::pktap:
            return true;
    }
    return false;
}

DecodeResult decode_packet(LinkType link_type, Bytes frame, const DecodeOptions& options,
                           TunnelInfo* tunnel, SegmentPath* segment) noexcept {
    // The layers fill in the result's own packet (no copy on the way out), each only the fields
    // it decodes: the rest keep their defaults.
    DecodeResult result;
    if (segment != nullptr) segment->count = 0;
    Decoder decoder(options, result.packet, tunnel, segment);
    result.status = decoder.link(link_type, frame);
    result.tunnel_depth = decoder.depth();
    // A failure's packet is empty, whatever the layers before it had filled in.
    if (!result.ok()) result.packet = DecodedPacket{};
    return result;
}

DecodeResult decode_packet(LinkType link_type, Bytes frame) noexcept {
    static const DecodeOptions defaults;
    return decode_packet(link_type, frame, defaults);
}

}  // namespace ephemera
