#include "ephemera/track/tracker.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <utility>

#include "ephemera/core/free_memory.hpp"

namespace ephemera {
namespace {

constexpr Micros sweep_interval = 10'000'000;
constexpr std::size_t initial_slots = 1024;
constexpr std::size_t initial_lingering = 1024;
constexpr std::size_t max_reserved_entries = std::size_t{1} << 20;

// The 128-bit product of two words, folded to one: every input bit reaches the result, in one
// multiplication.
std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

std::pair<std::uint64_t, std::uint64_t> words_of(const Address& address) noexcept {
    std::uint64_t first = 0;
    std::uint64_t second = 0;
    std::memcpy(&first, address.bytes.data(), 8);
    std::memcpy(&second, address.bytes.data() + 8, 8);
    return {first, second};
}

// Whether the connection between `endpoint` is the one `packet` belongs to, whichever sent first.
bool carries(Protocol protocol, const std::array<Endpoint, 2>& endpoint,
             const DecodedPacket& packet) noexcept {
    if (protocol != packet.protocol) return false;
    const Endpoint& first = endpoint[0];
    const Endpoint& second = endpoint[1];
    return (first == packet.source && second == packet.destination) ||
           (first == packet.destination && second == packet.source);
}

FlowKey key_of(const Connection& connection) noexcept {
    FlowKey key;
    key.protocol = connection.protocol;
    key.low = std::min(connection.endpoint[0], connection.endpoint[1]);
    key.high = std::max(connection.endpoint[0], connection.endpoint[1]);
    return key;
}

bool is_half_open(const Connection& connection) noexcept {
    return connection.protocol == Protocol::tcp && connection.syn_side != no_side &&
           connection.syn_ack_side == no_side && connection.packets[1 - connection.syn_side] == 0;
}

}  // namespace

std::string_view state_name(ConnectionState state) noexcept {
    switch (state) {
        case ConnectionState::unanswered:
            return "unanswered";
        case ConnectionState::refused:
            return "refused";
        case ConnectionState::open:
            return "open";
        case ConnectionState::half_closed:
            return "half-closed";
        case ConnectionState::closed:
            return "closed";
        case ConnectionState::reset:
            return "reset";
        case ConnectionState::expired:
            return "expired";
    }
    return "unknown";
}

FlowKey make_flow_key(const DecodedPacket& packet) noexcept {
    FlowKey key;
    key.protocol = packet.protocol;
    if (packet.source < packet.destination) {
        key.low = packet.source;
        key.high = packet.destination;
    } else {
        key.low = packet.destination;
        key.high = packet.source;
    }
    return key;
}

namespace {

// The hash of the flow between `low` and `high` (low < high), read field by field in place.
std::uint64_t hash_endpoints(const Endpoint& low, const Endpoint& high,
                             Protocol protocol) noexcept {
    const auto [low_first, low_second] = words_of(low.address);
    const auto [high_first, high_second] = words_of(high.address);
    const std::uint64_t rest = (std::uint64_t{low.port} << 48) | (std::uint64_t{high.port} << 32) |
                               (static_cast<std::uint64_t>(low.address.family) << 16) |
                               (static_cast<std::uint64_t>(high.address.family) << 8) |
                               // a flow's two ends are in one segment: one of them says which
                               (std::uint64_t{low.address.segment} << 24) |
                               static_cast<std::uint64_t>(protocol);
    const std::uint64_t low_hash =
        fold_multiply(low_first ^ 0xa0761d6478bd642fULL, low_second ^ 0xe7037ed1a0b428dbULL);
    const std::uint64_t high_hash =
        fold_multiply(high_first ^ 0x8ebc6af09c88c6e3ULL, high_second ^ 0x589965cc75374cc3ULL);
    return fold_multiply(low_hash ^ rest, high_hash ^ 0x1d8e4e27c47d124fULL);
}

}  // namespace

// Every packet's flow is hashed once: each address folded with a multiplication of its own (the
// two independent, so they run side by side), then the two with the ports and families.
std::uint64_t hash_flow_key(const FlowKey& key) noexcept {
    return hash_endpoints(key.low, key.high, key.protocol);
}

// The same value without making the key: a packet just decoded is read where it lies, field by
// field, instead of being copied into a key and read back (which waits for the copy's writes).
std::uint64_t hash_flow_of(const DecodedPacket& packet) noexcept {
    const bool source_low = packet.source < packet.destination;
    return hash_endpoints(source_low ? packet.source : packet.destination,
                          source_low ? packet.destination : packet.source, packet.protocol);
}

ConnectionTracker::ConnectionTracker(TrackerOptions options, ConnectionSink& sink)
    : options_(options), sink_(sink), slots_(initial_slots), lingering_(initial_lingering) {
    // Address space only: pages are touched as entries are, and the table never copies itself
    // to grow (which would touch, and on a VM fault in, every page twice).
    if (large_buffer::reserving_is_free) {
        entries_.reserve(std::min(options_.max_connections + 1, max_reserved_entries));
        // The ring grows in place, as far as this (see grow_lingering).
        lingering_.reserve(
            std::min(std::bit_ceil(std::max(options_.max_connections, initial_lingering)),
                     max_reserved_entries));
    }
}

ConnectionTracker::Found ConnectionTracker::find(const DecodedPacket& packet, std::uint32_t hash) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
        Slot& slot = slots_[at];
        if (slot.ref_plus_one == 0) return {&slot, nullptr, {}, false};
        if (slot.hash != hash) continue;
        if ((slot.ref_plus_one & lingering_flag) == 0) {
            Connection& connection = entries_[slot.ref_plus_one - 1];
            if (carries(connection.protocol, connection.endpoint, packet)) {
                return {&slot, &connection, connection.endpoint[0], false};
            }
            continue;
        }
        const std::uint64_t position = short_position(slot.ref_plus_one);
        const Lingering& closed = lingering_at(position);
        if (carries(closed.protocol, closed.endpoint, packet)) {
            lingering_copy_ = connection_of(position);
            return {&slot, &lingering_copy_, closed.endpoint[0], true};
        }
    }
}

std::uint32_t ConnectionTracker::new_entry() {
    std::uint32_t index;
    if (!free_entries_.empty()) {
        index = free_entries_.back();
        free_entries_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(entries_.size());
        entries_.emplace_back();
        live_.push_back(0);
    }
    live_[index] = 1;
    ++live_count_;
    return index;
}

void ConnectionTracker::free_entry(std::uint32_t index) {
    live_[index] = 0;
    free_entries_.push_back(index);
    --live_count_;
}

// Backward-shift deletion keeps every probe chain unbroken without tombstones.
void ConnectionTracker::erase_slot(std::uint32_t hash, std::uint32_t ref_plus_one) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = hash & mask;
    while (slots_[hole].ref_plus_one != ref_plus_one) hole = (hole + 1) & mask;
    for (std::size_t next = (hole + 1) & mask; slots_[next].ref_plus_one != 0;
         next = (next + 1) & mask) {
        const std::size_t home = slots_[next].hash & mask;
        // Move `next` into the hole unless its home lies cyclically in (hole, next].
        const bool home_after_hole = ((next - home) & mask) < ((next - hole) & mask);
        if (!home_after_hole) {
            slots_[hole] = slots_[next];
            hole = next;
        }
    }
    slots_[hole] = {};
}

void ConnectionTracker::erase(std::uint32_t index) {
    erase_slot(static_cast<std::uint32_t>(hash_flow_key(key_of(entries_[index]))), index + 1);
    free_entry(index);
}

void ConnectionTracker::grow() {
    decltype(slots_) old(slots_.size() * 2);
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.ref_plus_one == 0) continue;
        std::size_t at = slot.hash & mask;
        while (slots_[at].ref_plus_one != 0) at = (at + 1) & mask;
        slots_[at] = slot;
    }
}

// The connection in table entry `index` has just closed: it lingers in the ring, narrowed, and
// its slot names it there from here on, so the closing ACK and any retransmission still find it.
void ConnectionTracker::close(std::uint32_t index, std::uint32_t hash) {
    entries_[index].end_reason = EndReason::closed;
    if (lingering_connections() >= options_.max_connections) {
        expire_oldest_lingering();  // moves slots: ours is looked up after it
    } else if (lingering_connections() == lingering_.size()) {
        grow_lingering();
    }
    const std::uint64_t position = lingering_end_++;
    store_lingering(position, entries_[index]);
    Lingering& lingering = lingering_at(position);
    lingering.hash = hash;
    lingering.present = true;
    const std::size_t mask = slots_.size() - 1;
    std::size_t at = hash & mask;
    while (slots_[at].ref_plus_one != index + 1) at = (at + 1) & mask;
    slots_[at].ref_plus_one = lingering_ref(position);
    free_entry(index);
}

void ConnectionTracker::grow_lingering() {
    const std::size_t size = lingering_.size();
    if (lingering_.capacity() >= size * 2) {
        // In place, into reserved memory: a full ring holds one position per index, and each
        // position's index in the ring twice as large is the same, or `size` more. Only those move,
        // into the new half, so the old ring and a new one are never held at once.
        lingering_.resize(size * 2);
        for (std::uint64_t position = lingering_begin_; position < lingering_end_; ++position) {
            if ((position & size) != 0) {
                const std::size_t index = position & (size - 1);
                lingering_[index + size] = lingering_[index];
            }
        }
        return;
    }
    decltype(lingering_) old(size * 2);
    old.swap(lingering_);
    for (std::uint64_t position = lingering_begin_; position < lingering_end_; ++position) {
        lingering_at(position) = old[position & (old.size() - 1)];
    }
}

Connection ConnectionTracker::whole(const Lingering& lingering, std::uint64_t position,
                                    const std::map<std::uint64_t, WideActivity>& wide) {
    Connection connection;
    static_cast<ConnectionActivity&>(connection) =
        load_narrow(lingering, wide_values(lingering, position, wide));
    connection.endpoint = lingering.endpoint;
    return connection;
}

void ConnectionTracker::copy_lingering(LingeringCopy& copy) const {
    const std::size_t first = lingering_begin_ & (lingering_.size() - 1);
    const std::size_t count = lingering_connections();
    const std::size_t to_end = std::min(count, lingering_.size() - first);
    copy.entries.assign(lingering_.begin() + static_cast<std::ptrdiff_t>(first),
                        lingering_.begin() + static_cast<std::ptrdiff_t>(first + to_end));
    copy.entries.insert(copy.entries.end(), lingering_.begin(),
                        lingering_.begin() + static_cast<std::ptrdiff_t>(count - to_end));
    copy.first_position = lingering_begin_;
    copy.wide = wide_lingering_;
}

// Keeps the hash and whether it is present; the rest comes from `connection`.
void ConnectionTracker::store_lingering(std::uint64_t position, const Connection& connection) {
    Lingering& lingering = lingering_at(position);
    const bool was_wide = lingering.wide;
    lingering.endpoint = connection.endpoint;
    const std::uint64_t key = short_position(position);
    if (std::optional<WideActivity> wide = store_narrow(connection, lingering)) {
        wide_lingering_[key] = *wide;
    } else if (was_wide) {
        wide_lingering_.erase(key);
    }
}

void ConnectionTracker::emit_lingering(std::uint64_t position) {
    Connection connection = connection_of(position);
    Lingering& lingering = lingering_at(position);
    if (lingering.wide) wide_lingering_.erase(short_position(position));
    lingering.wide = false;
    lingering.present = false;
    sink_.on_connection(connection);
}

void ConnectionTracker::expire_oldest_lingering() {
    Lingering& oldest = lingering_at(lingering_begin_);
    if (oldest.present) {
        erase_slot(oldest.hash, lingering_ref(lingering_begin_));
        emit_lingering(lingering_begin_);
    }
    ++lingering_begin_;
}

bool ConnectionTracker::starts_new_connection(const ConnectionActivity& connection, int side,
                                              Micros timestamp,
                                              const DecodedPacket& packet) const noexcept {
    if (packet.protocol == Protocol::udp) {
        return timestamp - connection.last_seen > options_.udp_timeout;
    }
    const bool pure_syn = (packet.tcp_flags & (tcp_flag::syn | tcp_flag::ack)) == tcp_flag::syn;
    if (!pure_syn) return false;
    // The same SYN again is a retransmission, whatever happened in between (RFC 6191's refused
    // reuse shows SYN, ACK, RST, then the same SYN).
    if (connection.syn_side == side && connection.syn_sequence == packet.sequence) return false;
    // A SYN from the other side while nothing has been answered is a simultaneous open.
    const bool only_a_syn = connection.syn_side == 1 - side && connection.syn_ack_side == no_side &&
                            connection.packets[side] == 0;
    return !only_a_syn;
}

void ConnectionTracker::on_packet(Micros timestamp, const DecodedPacket& packet) {
    on_packet(timestamp, packet, hash_flow_of(packet));
}

void ConnectionTracker::on_packet(Micros timestamp, const DecodedPacket& packet,
                                  std::uint64_t key_hash) {
    if (timestamp > latest_) latest_ = timestamp;
    if (latest_ >= next_sweep_) sweep(latest_);

    const auto hash = static_cast<std::uint32_t>(key_hash);
    const Found found = find(packet, hash);
    int side = 0;
    bool starts = found.activity == nullptr;
    if (!starts) {
        side = found.first_sender == packet.source ? 0 : 1;
        starts = starts_new_connection(*found.activity, side, timestamp, packet);
    }
    if (found.lingering && !starts) {
        update(*found.activity, side, timestamp, packet);  // a late packet of a closed one
        update_lingering(found.slot->ref_plus_one);
        return;
    }
    std::uint32_t index;
    if (!starts) {
        index = found.slot->ref_plus_one - 1;
    } else if (found.activity == nullptr || found.lingering) {
        // A new 4-tuple, or one whose closed connection is taken over: the slot names a new entry.
        if (found.lingering) {
            const std::uint64_t position = short_position(found.slot->ref_plus_one);
            lingering_at(position).end_reason = EndReason::replaced;
            emit_lingering(position);
        }
        index = new_entry();
        *found.slot = {index + 1, hash};
    } else {
        index = found.slot->ref_plus_one - 1;
        emit(entries_[index],
             packet.protocol == Protocol::udp ? EndReason::idle : EndReason::replaced);
    }
    Connection& connection = entries_[index];
    if (starts) {
        ++connections_started_;
        connection = Connection{};
        connection.protocol = packet.protocol;
        connection.endpoint = {packet.source, packet.destination};
        connection.first_seen = timestamp;
        side = 0;
    }
    update(connection, side, timestamp, packet);
    if (connection.protocol == Protocol::tcp && connection.tcp_closed()) {
        close(index, hash);
    } else if (live_count_ > options_.max_connections) {
        evict(index);
    }
    // Grow only after this packet's entry is fully written: growing moves slots, not entries.
    // Up to three quarters full: a slot holds its hash, so a probe past a neighbour seldom
    // leaves the cache line.
    if ((live_count_ + lingering_connections()) * 4 > slots_.size() * 3) grow();
}

void ConnectionTracker::update(ConnectionActivity& connection, int side, Micros timestamp,
                               const DecodedPacket& packet) noexcept {
    connection.last_seen = timestamp;
    ++connection.packets[side];
    connection.payload_bytes[side] += packet.payload_length;
    if (packet.protocol != Protocol::tcp) return;
    const std::uint8_t flags = packet.tcp_flags;
    const auto this_side = static_cast<std::int8_t>(side);
    if ((flags & tcp_flag::syn) != 0) {
        if ((flags & tcp_flag::ack) == 0) {
            if (connection.syn_side == no_side) {
                connection.syn_side = this_side;
                connection.syn_sequence = packet.sequence;
                connection.syn_ttl = packet.ttl;
                connection.syn_option_layout = packet.syn_option_layout;
            } else if (connection.syn_side == this_side) {
                ++connection.syn_retransmissions;
            }
        } else if (connection.syn_ack_side == no_side) {
            connection.syn_ack_side = this_side;
        }
    }
    if ((flags & tcp_flag::fin) != 0 && !connection.fin(side)) {
        connection.set_fin(side);
        if (connection.rst_side == no_side) {
            connection.close_time = std::max(connection.close_time, timestamp);
        }
        if (connection.first_fin_side == no_side) connection.first_fin_side = this_side;
    }
    const bool awaiting_syn_ack =
        connection.syn_side != no_side && connection.syn_ack_side == no_side;
    if (awaiting_syn_ack && this_side != connection.syn_side &&
        (flags & (tcp_flag::syn | tcp_flag::rst | tcp_flag::ack)) == tcp_flag::ack) {
        connection.stale_ack = true;
    }
    if (awaiting_syn_ack && connection.stale_ack && this_side == connection.syn_side &&
        (flags & tcp_flag::rst) != 0) {
        // Not the end of the connection: the same SYN follows once the old state is gone.
        connection.time_wait_collision = true;
    } else if ((flags & tcp_flag::rst) != 0 && connection.rst_side == no_side) {
        connection.rst_side = this_side;
        connection.close_time = timestamp;
    }
}

// Frees an eighth of the table: the oldest half-open connections first, then the oldest of the
// rest. (Closed connections are not in the table.) One scan per max_connections / 8 new
// connections keeps the cost per packet constant.
void ConnectionTracker::evict(std::uint32_t keep) {
    const std::size_t batch = std::max<std::size_t>(1, options_.max_connections / 8);
    // Each candidate's rank and age read once, so choosing the batch compares small values in a
    // flat array instead of reaching into the table at every comparison.
    candidates_.clear();
    for (std::uint32_t index = 0; index < entries_.size(); ++index) {
        if (!live_[index] || index == keep) continue;
        const Connection& c = entries_[index];
        candidates_.push_back({c.last_seen, index, static_cast<std::uint8_t>(!is_half_open(c))});
    }
    const auto evicted_first = [](const Candidate& a, const Candidate& b) {
        if (a.rank != b.rank) return a.rank < b.rank;
        return a.last_seen < b.last_seen;
    };
    const std::size_t count = std::min(batch, candidates_.size());
    std::nth_element(candidates_.begin(), candidates_.begin() + count, candidates_.end(),
                     evicted_first);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint32_t index = candidates_[i].index;
        Connection& connection = entries_[index];
        if (is_half_open(connection)) {
            ++evictions_.half_open;
        } else {
            ++evictions_.other;
            emit(connection, EndReason::capture_end);
        }
        erase(index);
    }
}

void ConnectionTracker::emit(Connection& connection, EndReason reason) {
    connection.end_reason = reason;
    sink_.on_connection(connection);
}

void ConnectionTracker::sweep(Micros now) {
    next_sweep_ = now + sweep_interval;
    expired_.clear();
    for (std::uint32_t index = 0; index < entries_.size(); ++index) {
        if (!live_[index]) continue;
        const Connection& connection = entries_[index];
        if (connection.protocol == Protocol::udp &&
            now - connection.last_seen > options_.udp_timeout) {
            expired_.push_back(index);
        }
    }
    for (std::uint32_t index : expired_) {
        emit(entries_[index], EndReason::idle);
        erase(index);
    }
    // Closed connections in the order they closed; one that a late packet kept recent holds up
    // the ones behind it until it expires too.
    while (lingering_begin_ != lingering_end_) {
        const bool present = lingering_at(lingering_begin_).present;
        if (present && now - last_seen_of(lingering_begin_) <= options_.closed_linger) break;
        expire_oldest_lingering();
    }
}

std::span<std::byte> ConnectionTracker::fresh_memory_ahead() const noexcept {
    // While entries are being reused the table does not grow. 2 MiB (one huge page) is many
    // batches ahead, and what is faulted in ahead counts as resident.
    constexpr std::size_t ahead = (std::size_t{2} << 20) / sizeof(Connection);
    if (!free_entries_.empty()) return {};
    return space_ahead(entries_, ahead);
}

namespace {

// Gives back a buffer's pages behind a loop that empties it front to back, a few MiB at a time:
// the log grows by what the loop hands it, and the two should never take their full size at once.
class ReleaseBehind {
  public:
    explicit ReleaseBehind(const void* buffer) : base_(static_cast<const std::uint8_t*>(buffer)) {}
    // The loop has passed the first `bytes` of the buffer.
    void passed(std::size_t bytes) {
        if (bytes - released_ < step) return;
        large_buffer::release(base_ + released_, bytes - released_);
        released_ = bytes / step * step;
    }

  private:
    static constexpr std::size_t step = std::size_t{4} << 20;
    const std::uint8_t* base_;
    std::size_t released_ = 0;
};

}  // namespace

std::span<std::byte> ConnectionTracker::LingeringMemory::fresh_memory_ahead() const noexcept {
    const auto& ring = tracker_.lingering_;
    const std::size_t size = ring.size();
    const bool grows_in_place = large_buffer::reserving_is_free && ring.capacity() >= 2 * size;
    if (!grows_in_place || tracker_.lingering_connections() * 4 < size * 3) return {};
    auto* next_half = reinterpret_cast<std::byte*>(const_cast<Lingering*>(ring.data()) + size);
    return {next_half, size * sizeof(Lingering)};
}

void ConnectionTracker::finish() {
    // The closed ones first, in the order they closed. The ring holds them from
    // lingering_begin_'s index to its end, then from its start: two runs, each given back as it
    // is passed.
    const std::size_t mask = lingering_.size() - 1;
    std::size_t run_start = lingering_begin_ & mask;
    ReleaseBehind ring(&lingering_[run_start]);
    for (std::uint64_t position = lingering_begin_; position < lingering_end_; ++position) {
        const std::size_t index = position & mask;
        if (index < run_start) {
            run_start = 0;
            ring = ReleaseBehind(lingering_.data());
        }
        ring.passed((index - run_start) * sizeof(Lingering));
        if (lingering_at(position).present) emit_lingering(position);
    }
    ReleaseBehind table(entries_.data());
    for (std::size_t index = 0; index < entries_.size(); ++index) {
        table.passed(index * sizeof(Connection));
        if (!live_[index]) continue;
        Connection& connection = entries_[index];
        // Once a flood has filled the table, the half-open attempts left at the end are its too.
        if (evictions_.half_open > 0 && is_half_open(connection)) {
            ++evictions_.half_open;
            continue;
        }
        const bool udp_expired = connection.protocol == Protocol::udp &&
                                 latest_ - connection.last_seen > options_.udp_timeout;
        emit(connection, udp_expired ? EndReason::idle : EndReason::capture_end);
    }
    // Give the memory back before the report is built.
    decltype(slots_)(initial_slots).swap(slots_);
    decltype(lingering_)(initial_lingering).swap(lingering_);
    lingering_begin_ = lingering_end_ = 0;
    wide_lingering_.clear();
    free_memory(entries_);
    free_memory(live_);
    free_memory(free_entries_);
    free_memory(expired_);
    free_memory(candidates_);
    live_count_ = 0;
}

}  // namespace ephemera
