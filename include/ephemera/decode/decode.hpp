// Stage 2 of the pipeline: bytes of one captured frame -> the few header fields the tracker needs.
//
// decode_packet is a pure function. It never allocates, never throws and never reads past the
// captured length it is given. Every frame it cannot use comes back with the reason why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ephemera/core/types.hpp"

namespace ephemera {

// Link-layer header types, as numbered by libpcap's pcap_datalink() (DLT_*) on Linux.
enum class LinkType : int {
    null = 0,          // BSD loopback, family in host byte order of the capturing machine
    ethernet = 1,      // Ethernet II, with any number of 802.1Q / 802.1ad tags
    raw = 12,          // raw IPv4 or IPv6 (DLT_RAW on Linux)
    raw_openbsd = 14,  // DLT_RAW as OpenBSD numbers it
    raw_linktype = 101,
    loop = 108,  // OpenBSD loopback, family in network byte order
    linux_sll = 113,
    ipv4 = 228,
    ipv6 = 229,
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
};
inline constexpr std::size_t decode_status_count = 12;

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
    bool has_tcp_timestamp = false;
    std::uint32_t sequence = 0;
    std::uint32_t acknowledgment = 0;
    std::uint32_t timestamp_value = 0;     // TCP timestamp option TSval, when present
    std::uint16_t ip_id = 0;               // IPv4 identification; 0 for IPv6
    std::uint16_t transport_checksum = 0;  // as it stands in the header, unchecked
    // Transport payload size from the IP length fields, so a snaplen cut does not shrink it.
    std::uint32_t payload_length = 0;
};

struct DecodeResult {
    DecodeStatus status = DecodeStatus::ok;
    DecodedPacket packet;

    bool ok() const noexcept { return status == DecodeStatus::ok; }
};

// `frame` is exactly the captured bytes (caplen), nothing more.
DecodeResult decode_packet(LinkType link_type, std::span<const std::uint8_t> frame) noexcept;

// Whether decode_packet knows this link type at all; the capture stage warns once for others.
bool is_supported_link(int link_type) noexcept;

}  // namespace ephemera
