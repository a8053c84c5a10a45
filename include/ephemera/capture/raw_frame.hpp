// A frame as the capture stage hands it on: what every reader (libpcap's, the project's own)
// produces.
#pragma once

#include <cstdint>
#include <span>

#include "ephemera/core/types.hpp"

namespace ephemera {

struct RawFrame {
    Micros timestamp = 0;
    int link_type = 0;                    // pcap_datalink() of the file it came from
    std::span<const std::uint8_t> bytes;  // the captured bytes; valid until the next next()
    std::uint32_t wire_length = 0;
};

}  // namespace ephemera
