// Test addresses: 198.18.0.HOST (RFC 2544 benchmarking range, the samples' range too).
#pragma once

#include <cstdint>

#include "ephemera/core/types.hpp"

namespace ephemera::test {

inline Endpoint endpoint(std::uint8_t host, std::uint16_t port) {
    Endpoint result;
    result.address.family = Family::ipv4;
    result.address.bytes = {198, 18, 0, host};
    result.port = port;
    return result;
}

}  // namespace ephemera::test
