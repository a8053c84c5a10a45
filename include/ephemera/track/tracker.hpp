// Stage 3 of the pipeline: decoded packets -> connections. One flat, open-addressing table keyed
// by the unordered 5-tuple; a finished connection is handed to the sink and its slot reused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ephemera/core/large_buffer.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/track/connection.hpp"

namespace ephemera {

class ConnectionSink {
  public:
    virtual ~ConnectionSink() = default;
    // Called once per finished connection (not per packet).
    virtual void on_connection(const Connection& connection) = 0;
    // Memory on_connection is about to write for the first time (the fresh end of a growing
    // buffer), for another thread to fault in beforehand (large_buffer::populate). Nothing may be
    // read or written through it.
    virtual std::span<std::byte> space_ahead() noexcept { return {}; }
};

struct TrackerOptions {
    Micros udp_timeout = 60'000'000;
    // How long a closed TCP connection stays in the table so its last ACKs and retransmitted FINs
    // are not taken for a new connection.
    Micros closed_linger = 60'000'000;
    // The most connections held at once. At the limit an eighth of the table is evicted: oldest
    // half-open connections (a SYN and nothing back) first, so a SYN flood cannot grow memory,
    // then closed ones lingering for late ACKs, then the oldest of the rest.
    std::size_t max_connections = 262'144;
};

struct EvictionCounts {
    // Dropped, counted only: a flood's attempts are not clients. Once any were evicted, the
    // half-open attempts still in the table at the end are dropped the same way.
    std::uint64_t half_open = 0;
    // Open ones handed to the sink early, as if the capture ended for them. (Closed ones
    // evicted early lose nothing and are not counted.)
    std::uint64_t other = 0;
};

// Canonical (unordered) 5-tuple: the smaller endpoint first.
struct FlowKey {
    Endpoint low;
    Endpoint high;
    Protocol protocol = Protocol::tcp;

    bool operator==(const FlowKey&) const = default;
};

FlowKey make_flow_key(const DecodedPacket& packet) noexcept;
std::uint64_t hash_flow_key(const FlowKey& key) noexcept;

class ConnectionTracker {
  public:
    ConnectionTracker(TrackerOptions options, ConnectionSink& sink);

    void on_packet(Micros timestamp, const DecodedPacket& packet);
    // The same, with the packet's flow key and hash_flow_key(key) already computed by the
    // caller, so a packet's key is hashed once however many stages look it up.
    void on_packet(Micros timestamp, const DecodedPacket& packet, const FlowKey& key,
                   std::uint64_t key_hash);
    // Hands every connection still in the table to the sink, as of the end of the capture.
    void finish();

    std::size_t open_connections() const noexcept { return live_count_; }
    // Calls visit(connection) for every connection still in the table (a live view's snapshot).
    template <typename Visit>
    void for_each_connection(Visit&& visit) const {
        for (std::size_t index = 0; index < entries_.size(); ++index) {
            if (live_[index]) visit(entries_[index]);
        }
    }
    const EvictionCounts& evictions() const noexcept { return evictions_; }
    // The table's memory and the sink's about to be written for the first time (see
    // ConnectionSink::space_ahead).
    std::array<std::span<std::byte>, 2> space_ahead() noexcept;

  private:
    struct Slot {
        std::uint32_t index_plus_one = 0;  // 0: empty
        std::uint32_t hash = 0;
    };

    std::uint32_t find_or_insert(const FlowKey& key, std::uint32_t hash, bool& inserted);
    void erase(std::uint32_t index);
    void grow();
    void sweep(Micros now);
    void evict(std::uint32_t keep);
    void emit(Connection& connection, EndReason reason);
    bool starts_new_connection(const Connection& connection, int side, Micros timestamp,
                               const DecodedPacket& packet) const noexcept;

    TrackerOptions options_;
    ConnectionSink& sink_;
    std::vector<Slot, LargeBufferAllocator<Slot>> slots_;
    // The connection's endpoints are its key: an entry holds no separate copy of it. Whether an
    // entry is in use is kept apart (live_), so an entry is exactly two cache lines.
    std::vector<Connection, LargeBufferAllocator<Connection>> entries_;
    std::vector<std::uint8_t> live_;
    std::vector<std::uint32_t> free_entries_;
    std::vector<std::uint32_t> expired_;  // reused by sweep()
    // reused by evict(): rank 0 half-open, 1 closed, 2 the rest; the oldest of a rank go first
    struct Candidate {
        Micros last_seen;
        std::uint32_t index;
        std::uint8_t rank;
    };
    std::vector<Candidate> candidates_;
    std::size_t live_count_ = 0;
    EvictionCounts evictions_;
    Micros latest_ = 0;
    Micros next_sweep_ = 0;
};

}  // namespace ephemera
