#include <fmt/format.h>

#include "ephemera/report/report.hpp"

namespace ephemera {

std::string format_epoch(Micros time) {
    const char* sign = time < 0 ? "-" : "";
    const Micros magnitude = time < 0 ? -time : time;
    return fmt::format("{}{}.{:06}", sign, magnitude / 1'000'000, magnitude % 1'000'000);
}

std::string format_endpoint(const Endpoint& endpoint) {
    if (endpoint.address.family == Family::ipv6) {
        return fmt::format("[{}]:{}", to_string(endpoint.address), endpoint.port);
    }
    return fmt::format("{}:{}", to_string(endpoint.address), endpoint.port);
}

}  // namespace ephemera
