// What the tracker knows about one TCP connection or UDP flow. Sides are numbered by who was
// seen first: endpoint[0] sent the first packet the capture holds. Which side is the client is
// decided later (analysis/roles); the tracker only records the handshake evidence for it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "ephemera/core/types.hpp"

namespace ephemera {

inline constexpr std::int8_t no_side = -1;

enum class EndReason : std::uint8_t {
    closed,       // TCP closed (FIN both ways or RST) and lingered past the grace period
    replaced,     // a new SYN on the same 4-tuple started a new connection
    idle,         // UDP flow idle past --udp-timeout
    capture_end,  // still in the table when the capture ended
};

enum class ConnectionState : std::uint8_t {
    unanswered,   // TCP: SYN(s) and nothing back
    refused,      // TCP: SYN answered by RST
    open,         // TCP established or seen mid-stream, not closed; UDP: active at capture end
    half_closed,  // TCP: FIN from one side only
    closed,       // TCP: FIN from both sides
    reset,        // TCP: RST after the handshake or mid-stream
    expired,      // UDP: ended by the idle timeout
};

std::string_view state_name(ConnectionState state) noexcept;

// The state of `activity`: a ConnectionActivity, or the log's copy of one (analysis/roles.hpp),
// each able to say whether a side sent anything (sent(side)).
template <typename Activity>
ConnectionState state_of(const Activity& activity) noexcept {
    if (activity.protocol == Protocol::udp) {
        return activity.end_reason == EndReason::idle ? ConnectionState::expired
                                                      : ConnectionState::open;
    }
    const bool attempt_only = activity.syn_side != no_side && activity.syn_ack_side == no_side;
    if (attempt_only) {
        const int responder = 1 - activity.syn_side;
        if (activity.rst_side == responder) return ConnectionState::refused;
        if (!activity.sent(responder)) return ConnectionState::unanswered;
    }
    if (activity.rst_side != no_side) return ConnectionState::reset;
    if (activity.fin_from_0 && activity.fin_from_1) return ConnectionState::closed;
    if (activity.fin_from_0 || activity.fin_from_1) return ConnectionState::half_closed;
    return ConnectionState::open;
}

// What happened on a connection, apart from which endpoints it joined. The log keeps a narrower
// copy of it (analysis/roles.hpp's ConnectionRecord).
struct ConnectionActivity {
    // Widest fields first, so the struct has no padding: the log holds one for every connection
    // of the capture.
    Micros first_seen = 0;
    Micros last_seen = 0;
    std::array<std::uint64_t, 2> packets{};
    std::array<std::uint64_t, 2> payload_bytes{};

    // TCP evidence, indexed by side; no_side where not seen.
    // When the connection ended, as far as the port's holder is concerned: the first RST's time
    // once there is one, otherwise the later of the two sides' first FINs (0 before any). One
    // field serves both because the analysis reads a FIN's time only where no RST was sent.
    Micros close_time = 0;
    std::uint32_t syn_sequence = 0;
    std::uint16_t syn_retransmissions = 0;
    Protocol protocol = Protocol::tcp;
    // What the first pure SYN says of its sender's system (analysis/shared_address): its TTL as
    // captured (decode's DecodedPacket::ttl) and its option layout (tcp_option_layout); 0: unknown.
    std::uint8_t syn_ttl = 0;
    std::uint8_t syn_option_layout = 0;
    // Sides in two bits each (0, 1 or no_side), the rest in single bits.
    std::int8_t syn_side : 2 = no_side;      // sender of the first pure SYN
    std::int8_t syn_ack_side : 2 = no_side;  // sender of the first SYN-ACK
    std::int8_t first_fin_side : 2 = no_side;
    std::int8_t rst_side : 2 = no_side;  // sender of the first RST
    EndReason end_reason : 2 = EndReason::capture_end;
    bool fin_from_0 : 1 = false;  // a FIN from side 0 (fin())
    bool fin_from_1 : 1 = false;
    bool stale_ack : 1 = false;            // the responder answered the SYN with a bare ACK
    bool time_wait_collision : 1 = false;  // ... and the SYN's sender reset it (RFC 6191 refusal)

    // Whether side `side` (0 or 1) sent a FIN.
    bool fin(int side) const noexcept { return side == 0 ? fin_from_0 : fin_from_1; }
    void set_fin(int side) noexcept {
        if (side == 0) {
            fin_from_0 = true;
        } else {
            fin_from_1 = true;
        }
    }
    bool tcp_closed() const noexcept { return rst_side != no_side || (fin_from_0 && fin_from_1); }
    bool sent(int side) const noexcept { return packets[side] > 0; }
    ConnectionState state() const noexcept { return state_of(*this); }
    std::uint64_t total_packets() const noexcept { return packets[0] + packets[1]; }
    std::uint64_t total_bytes() const noexcept { return payload_bytes[0] + payload_bytes[1]; }
};
static_assert(sizeof(ConnectionActivity) == 72, "ConnectionActivity has grown padding or a field");

// A connection as the tracker holds it: its activity and both endpoints, which are its key.
// Not padded to two cache lines: an open connection costs 16 bytes less, and is no slower to
// find (docs/performance.md).
struct Connection : ConnectionActivity {
    std::array<Endpoint, 2> endpoint{};
};
static_assert(sizeof(Connection) == 112, "Connection has grown a field");

}  // namespace ephemera
