// Stage 3 of the pipeline: decoded packets -> connections. One flat, open-addressing table keyed
// by the unordered 5-tuple; a finished connection is handed to the sink and its slot reused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "ephemera/core/fresh_memory.hpp"
#include "ephemera/core/large_buffer.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/track/connection.hpp"
#include "ephemera/track/narrow_activity.hpp"

namespace ephemera {

class ConnectionSink {
  public:
    virtual ~ConnectionSink() = default;
    // Called once per connection, when it leaves the tracker, final: nothing changes it after.
    // A closed TCP connection (FIN both ways, or RST) leaves once its linger has passed (or a new
    // connection takes over its 4-tuple); a flow or an open connection when it ends otherwise.
    // Connections arrive roughly in the order they ended, not in the order they started.
    virtual void on_connection(const Connection& connection) = 0;
};

struct TrackerOptions {
    Micros udp_timeout = 60'000'000;
    // How long a closed TCP connection stays with the tracker, quiet, before the sink has it:
    // its last ACKs and retransmitted FINs still count as its own, not as a new connection.
    Micros closed_linger = 60'000'000;
    // The most connections held at once. At the limit an eighth of the table is evicted: oldest
    // half-open connections (a SYN and nothing back) first, so a SYN flood cannot grow memory,
    // then the oldest of the rest. Closed connections are not held: as many again linger (in a
    // narrower form, track/narrow_activity.hpp), the longest closed giving way first.
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
// hash_flow_key(make_flow_key(packet)), computed without making the key.
std::uint64_t hash_flow_of(const DecodedPacket& packet) noexcept;

class ConnectionTracker : public GrowsIntoFreshMemory {
  public:
    ConnectionTracker(TrackerOptions options, ConnectionSink& sink);

    void on_packet(Micros timestamp, const DecodedPacket& packet);
    // The same, with hash_flow_of(packet) already computed by the caller, possibly on another
    // thread: a packet's flow is hashed once however many stages look it up.
    void on_packet(Micros timestamp, const DecodedPacket& packet, std::uint64_t key_hash);
    // A hint for a packet about to come, whose key hashes to key_hash: fetch its slot into the
    // cache. Nothing changes either way.
    void prefetch_slot(std::uint64_t key_hash) const noexcept {
        __builtin_prefetch(&slots_[key_hash & (slots_.size() - 1)]);
    }
    // Hands every connection still in the table to the sink, as of the end of the capture.
    void finish();

    // Connections begun so far (each 4-tuple's first packet, and every new one on an old 4-tuple).
    std::uint64_t connections_started() const noexcept { return connections_started_; }
    // Connections in the table (not closed yet).
    std::size_t open_connections() const noexcept { return live_count_; }
    // Closed connections still recognized by their late packets.
    std::size_t lingering_connections() const noexcept {
        return static_cast<std::size_t>(lingering_end_ - lingering_begin_);
    }
    // Calls visit(connection) for every connection not closed yet.
    template <typename Visit>
    void for_each_open_connection(Visit&& visit) const {
        for (std::size_t index = 0; index < entries_.size(); ++index) {
            if (live_[index]) visit(entries_[index]);
        }
    }
    const EvictionCounts& evictions() const noexcept { return evictions_; }
    // The table's entries about to be written for the first time, while it grows.
    std::span<std::byte> fresh_memory_ahead() const noexcept override;
    // The lingering ring's: the half it grows into next, once it is three quarters full and can
    // grow in place.
    const GrowsIntoFreshMemory& lingering_memory() const noexcept { return lingering_memory_; }

    // A closed connection, recognized until it has been quiet for closed_linger, then handed to
    // the sink. Its activity is narrowed (the fields store_narrow writes, by name): 88 bytes
    // where a Connection takes 112, and as many may linger as may be open.
    struct Lingering {
        std::array<Endpoint, 2> endpoint{};
        Micros first_seen = 0;
        std::uint32_t last_seen_after = 0;
        std::uint32_t close_after = 0;
        std::array<std::uint32_t, 2> packets_saturated{};
        std::array<std::uint32_t, 2> payload_bytes_saturated{};
        std::uint32_t syn_sequence = 0;
        std::uint32_t hash = 0;
        std::uint16_t syn_retransmissions = 0;
        Protocol protocol = Protocol::tcp;
        std::uint8_t syn_ttl = 0;
        std::uint8_t syn_option_layout = 0;
        std::int8_t syn_side : 2 = no_side;
        std::int8_t syn_ack_side : 2 = no_side;
        std::int8_t first_fin_side : 2 = no_side;
        std::int8_t rst_side : 2 = no_side;
        EndReason end_reason : 2 = EndReason::closed;
        bool fin_from_0 : 1 = false;
        bool fin_from_1 : 1 = false;
        bool stale_ack : 1 = false;
        bool time_wait_collision : 1 = false;
        bool wide : 1 = false;     // its whole values are in wide_lingering_
        bool present : 1 = false;  // false once handed to the sink (a new connection took over)
    };
    static_assert(sizeof(Lingering) == 88, "Lingering has grown padding or a field");

    // The closed connections lingering, copied as the ring holds them, oldest first: a plain copy
    // on the tracker's thread, widened on another (for_each).
    struct LingeringCopy {
        std::vector<Lingering> entries;
        std::uint64_t first_position = 0;            // the ring position of entries[0]
        std::map<std::uint64_t, WideActivity> wide;  // as wide_lingering_
        // Calls visit(connection) for each connection the copy holds, whole.
        template <typename Visit>
        void for_each(Visit&& visit) const {
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (entries[i].present) visit(whole(entries[i], first_position + i, wide));
            }
        }
    };
    // Copies the closed connections lingering into `copy`, reusing its memory.
    void copy_lingering(LingeringCopy& copy) const;
    // `lingering`, at ring position `position`, whole; `wide` holds the values of wide ones.
    static Connection whole(const Lingering& lingering, std::uint64_t position,
                            const std::map<std::uint64_t, WideActivity>& wide);

  private:
    // A slot names a table entry (its index), or with lingering_flag a lingering closed
    // connection (its position in lingering_, modulo 2^31).
    static constexpr std::uint32_t lingering_flag = std::uint32_t{1} << 31;
    struct Slot {
        std::uint32_t ref_plus_one = 0;  // 0: empty
        std::uint32_t hash = 0;
    };
    struct Found {
        Slot* slot = nullptr;  // the key's slot, or the empty one to take
        // The table entry's activity, or that of lingering_copy_ (the lingering connection
        // widened, for update_lingering to narrow back); null: none.
        ConnectionActivity* activity = nullptr;
        Endpoint first_sender;  // the connection's endpoint[0]
        bool lingering = false;
    };

    Found find(const DecodedPacket& packet, std::uint32_t hash);
    std::uint32_t new_entry();
    void free_entry(std::uint32_t index);
    void erase_slot(std::uint32_t hash, std::uint32_t ref_plus_one);
    void erase(std::uint32_t index);
    void grow();
    void sweep(Micros now);
    void evict(std::uint32_t keep);
    void emit(Connection& connection, EndReason reason);
    static void update(ConnectionActivity& connection, int side, Micros timestamp,
                       const DecodedPacket& packet) noexcept;
    void close(std::uint32_t index, std::uint32_t hash);
    void grow_lingering();
    // A ring position's entry; a slot's lingering ref works too (the ring is at most 2^31 long).
    Lingering& lingering_at(std::uint64_t position) noexcept {
        return lingering_[position & (lingering_.size() - 1)];
    }
    const Lingering& lingering_at(std::uint64_t position) const noexcept {
        return lingering_[position & (lingering_.size() - 1)];
    }
    // The lingering connection at `position`, whole.
    Connection connection_of(std::uint64_t position) const {
        return whole(lingering_at(position), position, wide_lingering_);
    }
    Micros last_seen_of(std::uint64_t position) const {
        const Lingering& lingering = lingering_at(position);
        return narrow_last_seen(lingering, wide_values(lingering, position, wide_lingering_));
    }
    void store_lingering(std::uint64_t position, const Connection& connection);
    // Hands the lingering connection at `position` to the sink; it is no longer present.
    void emit_lingering(std::uint64_t position);
    // A ring position modulo 2^31: what a slot's lingering ref holds besides the flag, and the key
    // of wide_lingering_ (lingering connections' positions are never 2^31 apart).
    static std::uint64_t short_position(std::uint64_t position_or_ref) noexcept {
        return position_or_ref & (lingering_flag - 1);
    }
    static std::uint32_t lingering_ref(std::uint64_t position) noexcept {
        return lingering_flag | static_cast<std::uint32_t>(short_position(position));
    }
    // The whole values of `lingering`, at `position`, where it is wide (in `wide`); else null.
    static const WideActivity* wide_values(const Lingering& lingering, std::uint64_t position,
                                           const std::map<std::uint64_t, WideActivity>& wide) {
        return lingering.wide ? &wide.at(short_position(position)) : nullptr;
    }
    void expire_oldest_lingering();
    // Narrows lingering_copy_ back into the lingering connection its slot `ref_plus_one` names.
    void update_lingering(std::uint32_t ref_plus_one) {
        store_lingering(short_position(ref_plus_one), lingering_copy_);
    }
    bool starts_new_connection(const ConnectionActivity& connection, int side, Micros timestamp,
                               const DecodedPacket& packet) const noexcept;

    class LingeringMemory : public GrowsIntoFreshMemory {
      public:
        explicit LingeringMemory(const ConnectionTracker& tracker) : tracker_(tracker) {}
        std::span<std::byte> fresh_memory_ahead() const noexcept override;

      private:
        const ConnectionTracker& tracker_;
    };

    TrackerOptions options_;
    ConnectionSink& sink_;
    std::vector<Slot, LargeBufferAllocator<Slot>> slots_;
    // The connection's endpoints are its key: an entry holds no separate copy of it. Whether an
    // entry is in use is kept apart (live_), so an entry is no more than a Connection.
    std::vector<Connection, LargeBufferAllocator<Connection>> entries_;
    std::vector<std::uint8_t> live_;
    std::vector<std::uint32_t> free_entries_;
    std::vector<std::uint32_t> expired_;  // reused by sweep()
    // reused by evict(): rank 0 half-open, 1 the rest; the oldest of a rank go first
    struct Candidate {
        Micros last_seen;
        std::uint32_t index;
        std::uint8_t rank;
    };
    std::vector<Candidate> candidates_;
    std::vector<Lingering, LargeBufferAllocator<Lingering>> lingering_;  // a ring, oldest first
    // By ring position modulo 2^31: the whole values of the few lingering connections that are
    // wide.
    std::map<std::uint64_t, WideActivity> wide_lingering_;
    Connection lingering_copy_;  // the lingering connection find() found, widened
    std::uint64_t lingering_begin_ = 0;
    std::uint64_t lingering_end_ = 0;
    std::size_t live_count_ = 0;
    std::uint64_t connections_started_ = 0;
    EvictionCounts evictions_;
    Micros latest_ = 0;
    Micros next_sweep_ = 0;
    LingeringMemory lingering_memory_{*this};
};

}  // namespace ephemera
