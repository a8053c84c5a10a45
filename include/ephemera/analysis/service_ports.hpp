// Ports registered for services (IANA's Service Name and Transport Protocol Port Number
// Registry), for those that matter to deciding who is the client: a connection with one of these
// on one side, and a port outside the table at or above 1024 on the other, is a client talking to
// that service, whichever side spoke first and however many ports the client used. A few
// services have a fixed client port as well (DHCP: 68 -> 67, DHCPv6: 546 -> 547).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ephemera/core/types.hpp"

namespace ephemera {

struct RegisteredService {
    std::uint16_t port;
    bool tcp;
    bool udp;
    std::string_view name;
    std::uint16_t client_port = 0;  // a fixed client port, where the protocol defines one
};

std::span<const RegisteredService> registered_services() noexcept;

// The registered service on `port` for `protocol`, if there is one.
const RegisteredService* find_registered_service(Protocol protocol, std::uint16_t port) noexcept;

// Which side (0 or 1) is the server by the table, or no_side when it cannot tell: one side's
// port is a registered service and the other's is a port at or above 1024 outside the table (or
// the service's fixed client port).
int server_by_registered_service(Protocol protocol, std::uint16_t port_a,
                                 std::uint16_t port_b) noexcept;

}  // namespace ephemera
