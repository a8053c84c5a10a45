// Stage 4a: who is the client of each connection, and why.
//
// Evidence, strongest first:
//   syn           the sender of a pure SYN is the client
//   syn-ack       the sender of a SYN-ACK is the server
//   known-service the endpoint was the server (or the other one the client) of a connection whose
//                 handshake the capture holds
//   fan-in        an address:port that several peer ports talk to is a service, when its peer
//                 talks to one peer port only (or to at most half as many)
//   service-port  a well-known port (< 1024) facing a port >= 1024, or a registered port
//                 (< 32768) facing one at or above 32768, where every common ephemeral range starts
//   lower-port    TCP, last resort: the lower port is the server
//   first-sender  UDP, last resort: the sender of the first datagram is the client
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ephemera/core/large_buffer.hpp"
#include "ephemera/track/connection.hpp"

namespace ephemera {

enum class RoleReason : std::uint8_t {
    syn,
    syn_ack,
    known_service,
    fan_in,
    service_port,
    lower_port,
    first_sender,
};
inline constexpr std::size_t role_reason_count = 7;

std::string_view role_reason_name(RoleReason reason) noexcept;

struct ConnectionRecord {
    Connection connection;
    std::uint8_t client_side = 0;  // index into connection.endpoint
    RoleReason role_reason = RoleReason::lower_port;
    bool role_from_handshake = false;

    const Endpoint& client() const noexcept { return connection.endpoint[client_side]; }
    const Endpoint& server() const noexcept { return connection.endpoint[1 - client_side]; }
};

// Every finished connection of a capture: hundreds of megabytes on a busy one.
using ConnectionRecords = std::vector<ConnectionRecord, LargeBufferAllocator<ConnectionRecord>>;

// The handshake alone decides; false when the capture holds neither SYN nor SYN-ACK.
bool assign_role_from_handshake(ConnectionRecord& record) noexcept;

// Gives every record without a handshake role one: from its handshake if it has one now (a
// record's late packets may bring it), else from what all records together show.
void assign_roles_by_heuristics(ConnectionRecords& records);

}  // namespace ephemera
