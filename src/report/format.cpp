#include <fmt/format.h>

#include "ephemera/report/report.hpp"

namespace ephemera {

std::string format_endpoint(const Endpoint& endpoint) {
    if (endpoint.address.family == Family::ipv6) {
        return fmt::format("[{}]:{}", to_string(endpoint.address), endpoint.port);
    }
    return fmt::format("{}:{}", to_string(endpoint.address), endpoint.port);
}

}  // namespace ephemera
