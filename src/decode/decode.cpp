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
// to finish (store forwarding fails), which measured 9% of the reading thread.
void set_address(Address& address, Family family, const std::uint8_t* at) noexcept {
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), at, family == Family::ipv4 ? 4 : 16);
    address.bytes = bytes;
    address.family = family;
}

// Only the timestamp option matters (RFC 7323): it tells whether a 4-tuple may be reused early.
void read_tcp_timestamp(Bytes options, DecodedPacket& packet) noexcept {
    constexpr std::uint8_t option_end = 0;
    constexpr std::uint8_t option_nop = 1;
    constexpr std::uint8_t option_timestamp = 8;
    std::size_t at = 0;
    while (at < options.size()) {
        const std::uint8_t kind = options[at];
        if (kind == option_end) return;
        if (kind == option_nop) {
            ++at;
            continue;
        }
        if (at + 1 >= options.size()) return;
        const std::uint8_t length = options[at + 1];
        if (length < 2 || at + length > options.size()) return;
        if (kind == option_timestamp && length == 10) {
            packet.has_tcp_timestamp = true;
            packet.timestamp_value = load32(&options[at + 2]);
            return;
        }
        at += length;
    }
}

// `segment` holds the captured transport bytes; `ip_payload_length` is what the IP header says
// the payload is, which may be longer when the snaplen cut the frame.
DecodeStatus decode_transport(std::uint8_t ip_protocol, Bytes segment,
                              std::uint32_t ip_payload_length, DecodedPacket& packet) noexcept {
    if (ip_protocol == ip_protocol_tcp) {
        if (segment.size() < 20) return DecodeStatus::truncated_tcp;
        const std::uint32_t header_length = (segment[12] >> 4) * 4u;
        if (header_length < 20 || header_length > ip_payload_length) {
            return DecodeStatus::bad_tcp_header;
        }
        packet.protocol = Protocol::tcp;
        packet.source.port = load16(&segment[0]);
        packet.destination.port = load16(&segment[2]);
        packet.sequence = load32(&segment[4]);
        packet.acknowledgment = load32(&segment[8]);
        packet.tcp_flags = segment[13];
        packet.transport_checksum = load16(&segment[16]);
        packet.payload_length = ip_payload_length - header_length;
        const std::size_t captured_header = std::min<std::size_t>(header_length, segment.size());
        read_tcp_timestamp(segment.subspan(20, captured_header - 20), packet);
        return DecodeStatus::ok;
    }
    if (ip_protocol == ip_protocol_udp) {
        if (segment.size() < 8) return DecodeStatus::truncated_udp;
        if (ip_payload_length < 8) return DecodeStatus::bad_udp_header;
        packet.protocol = Protocol::udp;
        packet.source.port = load16(&segment[0]);
        packet.destination.port = load16(&segment[2]);
        packet.payload_length = ip_payload_length - 8;
        packet.transport_checksum = load16(&segment[6]);
        return DecodeStatus::ok;
    }
    return DecodeStatus::unsupported_transport;
}

DecodeStatus decode_ipv4(Bytes datagram, DecodedPacket& packet) noexcept {
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

    packet.ip_id = load16(&datagram[4]);
    set_address(packet.source.address, Family::ipv4, &datagram[12]);
    set_address(packet.destination.address, Family::ipv4, &datagram[16]);
    // Ethernet pads short frames: the IP length, not the frame, says where the datagram ends.
    const std::size_t captured_end = std::min(total_length, datagram.size());
    return decode_transport(datagram[9],
                            datagram.subspan(header_length, captured_end - header_length),
                            static_cast<std::uint32_t>(total_length - header_length), packet);
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

DecodeStatus decode_ipv6(Bytes datagram, DecodedPacket& packet) noexcept {
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

    set_address(packet.source.address, Family::ipv6, &datagram[8]);
    set_address(packet.destination.address, Family::ipv6, &datagram[24]);
    return decode_transport(next_header, datagram.subspan(at, captured_end - at),
                            static_cast<std::uint32_t>(datagram_end - at), packet);
}

DecodeStatus decode_ip_by_version(Bytes datagram, DecodedPacket& packet) noexcept {
    if (datagram.empty()) return DecodeStatus::truncated_ip;
    switch (datagram[0] >> 4) {
        case 4:
            return decode_ipv4(datagram, packet);
        case 6:
            return decode_ipv6(datagram, packet);
        default:
            return DecodeStatus::bad_ip_header;
    }
}

// Walks any stack of VLAN tags, then dispatches on the innermost ethertype.
DecodeStatus decode_ethertype(std::uint16_t ethertype, Bytes payload,
                              DecodedPacket& packet) noexcept {
    while (ethertype == ethertype_vlan || ethertype == ethertype_qinq ||
           ethertype == ethertype_qinq_old) {
        if (payload.size() < 4) return DecodeStatus::truncated_link;
        ethertype = load16(&payload[2]);
        payload = payload.subspan(4);
    }
    if (ethertype == ethertype_ipv4) return decode_ipv4(payload, packet);
    if (ethertype == ethertype_ipv6) return decode_ipv6(payload, packet);
    return DecodeStatus::non_ip;
}

// BSD loopback carries the address family as a 32-bit word: host byte order of the capturing
// machine for DLT_NULL, network order for DLT_LOOP. Both orders are tried, since the capturing
// machine is unknown; the values do not collide.
DecodeStatus decode_loopback(Bytes frame, DecodedPacket& packet) noexcept {
    if (frame.size() < 4) return DecodeStatus::truncated_link;
    const std::uint32_t big = load32(&frame[0]);
    const std::uint32_t little = (std::uint32_t{frame[3]} << 24) | (std::uint32_t{frame[2]} << 16) |
                                 (std::uint32_t{frame[1]} << 8) | frame[0];
    auto is_family = [&](std::uint32_t value) { return big == value || little == value; };
    const Bytes datagram = frame.subspan(4);
    if (is_family(2)) return decode_ipv4(datagram, packet);
    // AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
    if (is_family(10) || is_family(24) || is_family(28) || is_family(30)) {
        return decode_ipv6(datagram, packet);
    }
    return DecodeStatus::non_ip;
}

// Each layer writes its fields into `packet` only after its own checks.
DecodeStatus decode_link(LinkType link_type, Bytes frame, DecodedPacket& packet) noexcept {
    switch (link_type) {
        case LinkType::ethernet:
            if (frame.size() < 14) return DecodeStatus::truncated_link;
            return decode_ethertype(load16(&frame[12]), frame.subspan(14), packet);
        case LinkType::linux_sll:
            if (frame.size() < 16) return DecodeStatus::truncated_link;
            return decode_ethertype(load16(&frame[14]), frame.subspan(16), packet);
        case LinkType::linux_sll2:
            if (frame.size() < 20) return DecodeStatus::truncated_link;
            return decode_ethertype(load16(&frame[0]), frame.subspan(20), packet);
        case LinkType::raw:
        case LinkType::raw_openbsd:
        case LinkType::raw_linktype:
            return decode_ip_by_version(frame, packet);
        case LinkType::ipv4:
            return decode_ipv4(frame, packet);
        case LinkType::ipv6:
            return decode_ipv6(frame, packet);
        case LinkType::null:
        case LinkType::loop:
            return decode_loopback(frame, packet);
    }
    return DecodeStatus::unsupported_link;
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
    }
    return "unknown";
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
            return true;
    }
    return false;
}

DecodeResult decode_packet(LinkType link_type, Bytes frame) noexcept {
    // The layers fill in the result's own packet (no copy on the way out), each only the fields
    // it decodes: the rest keep their defaults.
    DecodeResult result;
    result.status = decode_link(link_type, frame, result.packet);
    // A failure's packet is empty, whatever the layers before it had filled in.
    if (!result.ok()) result.packet = DecodedPacket{};
    return result;
}

}  // namespace ephemera
