// libFuzzer harness for the decoder: the first byte picks the link type, the rest is the frame.
// The frame is copied to a buffer of exactly its size so AddressSanitizer catches any overread.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "ephemera/decode/decode.hpp"

namespace {

constexpr ephemera::LinkType link_types[] = {
    ephemera::LinkType::ethernet,     ephemera::LinkType::linux_sll,
    ephemera::LinkType::linux_sll2,   ephemera::LinkType::raw,
    ephemera::LinkType::ipv4,         ephemera::LinkType::ipv6,
    ephemera::LinkType::null,         ephemera::LinkType::loop,
    ephemera::LinkType::raw_openbsd,  ephemera::LinkType::ppp,
    ephemera::LinkType::ppp_serial,   ephemera::LinkType::c_hdlc,
    ephemera::LinkType::ieee802_11,   ephemera::LinkType::prism,
    ephemera::LinkType::radiotap,     ephemera::LinkType::arcnet,
    ephemera::LinkType::arcnet_linux, ephemera::LinkType::pktap_apple,
    ephemera::LinkType::avs,          ephemera::LinkType::juniper_ether,
    ephemera::LinkType::nflog,        ephemera::LinkType::ipoib,
    ephemera::LinkType::pktap,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const ephemera::LinkType link = link_types[data[0] % std::size(link_types)];
    const std::size_t frame_size = size - 1;
    auto frame = std::make_unique<std::uint8_t[]>(frame_size);
    if (frame_size > 0) std::memcpy(frame.get(), data + 1, frame_size);
    // With the tunnel and segment outputs asked for, so their writers are fuzzed too.
    ephemera::TunnelInfo tunnel;
    ephemera::SegmentPath segment;
    static const ephemera::DecodeOptions options;
    const ephemera::DecodeResult result =
        ephemera::decode_packet(link, {frame.get(), frame_size}, options, &tunnel, &segment);
    if (segment.count > ephemera::SegmentPath::capacity) __builtin_trap();
    if (result.ok() && result.packet.protocol != ephemera::Protocol::tcp &&
        result.packet.protocol != ephemera::Protocol::udp) {
        __builtin_trap();  // a decoded packet is always TCP or UDP
    }
    return 0;
}
