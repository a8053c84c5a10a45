#include "ephemera/analysis/ports.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "ephemera/analysis/duration_histogram.hpp"
#include "ephemera/analysis/numbering.hpp"
#include "ephemera/analysis/scratch.hpp"
#include "ephemera/analysis/statistics.hpp"

namespace ephemera {
namespace {

// Allocators that count upward step by 1 (BSD), 2 (Linux's even ports) or small random
// increments (Linux >= 5.12: 2-16; RFC 6056 alg. 5): a step this small is "rising in sequence".
constexpr int max_sequential_step = 32;
// Linux re-salts its per-destination offsets every 10 s: only closer pairs are one sequence.
constexpr Micros per_destination_window = 10'000'000;
constexpr double pattern_share = 0.7;       // share of steps that must fit a rising pattern
constexpr double random_small_share = 0.2;  // at most this share of small steps for random
constexpr double uniform_p_threshold = 0.01;

bool is_small_step(int step) {
    return step >= 1 && step <= max_sequential_step;
}

// Operating systems whose connect() allocator shows `pattern` and whose default range holds
// every port seen.
TableSet os_hint_for(AllocationPattern pattern, std::uint16_t low, std::uint16_t high) {
    TableSet hint;
    if (pattern == AllocationPattern::unknown) return hint;
    for (std::size_t index = 0; index < os_profiles().size(); ++index) {
        const OsProfile& profile = os_profiles()[index];
        const RangeDefault& range = range_defaults()[profile.range_default];
        if (profile.tcp_pattern == pattern && range.range.contains(low, high)) hint.add(index);
    }
    return hint;
}

// The profile a hint names alone, if it names exactly one.
const OsProfile* single_profile(TableSet hint) {
    const int only = hint.only();
    return only < 0 ? nullptr : &os_profiles()[static_cast<std::size_t>(only)];
}

// UDP ports are random on every system: the hint is what the range alone says, narrowest first.
TableSet udp_os_hint(std::uint16_t low, std::uint16_t high) {
    const RangeDefault* narrowest = nullptr;
    for (const RangeDefault& entry : range_defaults()) {
        if (!entry.range.contains(low, high)) continue;
        if (narrowest == nullptr || entry.range.size() < narrowest->range.size())
            narrowest = &entry;
    }
    TableSet hint;
    if (narrowest == nullptr) return hint;
    for (std::size_t index = 0; index < os_profiles().size(); ++index) {
        if (&range_defaults()[os_profiles()[index].range_default] == narrowest) hint.add(index);
    }
    return hint;
}

constexpr std::uint32_t no_previous = UINT32_MAX;

// One host's records lie far apart in the log, and in start order they are visited in no order
// the memory system can guess: the first pass over them asks for each a few records ahead.
constexpr std::size_t fetch_ahead = 8;
void fetch(const ConnectionRecord* record) noexcept {
    __builtin_prefetch(record);
    __builtin_prefetch(reinterpret_cast<const char*>(record) + sizeof(ConnectionRecord) - 1);
}

// The earlier uses of a client's ports, looked up as its connections come in start order: for
// each port, when its uses so far ended (the latest last packet); for each 4-tuple (port and
// server), its latest connection. State per port and per 4-tuple, not per connection. Ports are
// found through a table of the port space (256 KiB, small enough to stay in cache) that each
// thread keeps and puts back as it found it after each client, so a client costs its own ports.
class PortHistory {
  public:
    struct Previous {
        std::uint32_t on_tuple = no_previous;  // the 4-tuple's latest connection
        bool port_used = false;                // whether the port was used before, to any server
        Micros port_free_after = 0;            // if so, when its latest use ended
    };

    // For a client of `connections` connections (scratch_for).
    explicit PortHistory(std::size_t connections) : lists_(scratch_for(connections, own_)) {
        lists_.tuples.clear();
        lists_.latest_on_tuple.clear();
        lists_.ports.clear();
    }
    PortHistory(const PortHistory&) = delete;
    PortHistory& operator=(const PortHistory&) = delete;
    ~PortHistory() {
        for (const PortUse& use : lists_.ports) entry_of_port()[use.port] = 0;
    }

    // Connection `index` uses `port` towards `server` (a server_keys() key), its last packet at
    // `last_seen`: what came before it on the port and the 4-tuple.
    Previous use(std::uint32_t index, std::uint16_t port, std::uint64_t server, Micros last_seen) {
        Previous previous;
        std::uint32_t& entry = entry_of_port()[port];
        if (entry == 0) {
            lists_.ports.push_back({last_seen, index, server, port});
            entry = static_cast<std::uint32_t>(lists_.ports.size());
            return previous;
        }
        PortUse& use = lists_.ports[entry - 1];
        previous.port_used = true;
        previous.port_free_after = use.free_after;
        use.free_after = std::max(use.free_after, last_seen);
        // The port's latest use is the 4-tuple's where it went to this server; where it went to
        // another, that 4-tuple's latest is noted first, so the table of 4-tuples is only written
        // when a port changes server.
        if (use.latest_server == server) {
            previous.on_tuple = use.latest;
        } else {
            note_tuple(port, use.latest_server, use.latest);
            if (const auto earlier = lists_.tuples.find(server << 16 | port)) {
                previous.on_tuple = lists_.latest_on_tuple[*earlier];
            }
            use.latest_server = server;
        }
        use.latest = index;
        return previous;
    }

  private:
    struct PortUse {
        Micros free_after;
        std::uint32_t latest;         // the port's latest connection
        std::uint64_t latest_server;  // and its server
        std::uint16_t port;
    };
    void note_tuple(std::uint16_t port, std::uint64_t server, std::uint32_t latest) {
        const std::uint32_t tuple = lists_.tuples.number(server << 16 | port);
        if (tuple == lists_.latest_on_tuple.size()) {
            lists_.latest_on_tuple.push_back(latest);
        } else {
            lists_.latest_on_tuple[tuple] = latest;
        }
    }
    // Each port's place in `ports` plus one; 0 while unused.
    static std::vector<std::uint32_t>& entry_of_port() {
        thread_local std::vector<std::uint32_t> table(65536, 0);
        return table;
    }
    struct Lists {
        WordNumbering tuples;  // the 4-tuples whose port went to another server since
        std::vector<std::uint32_t> latest_on_tuple;  // by tuple number
        std::vector<PortUse> ports;                  // the client's, in order of first use
    };

    std::optional<Lists> own_;
    Lists& lists_;
};

// Each record's server as a small number (numbered in order of first appearance), with its
// protocol in the lowest bit: (protocol, server) keys that fit a word. Consecutive connections
// often go to the same server: that one is remembered.
std::vector<std::uint64_t> server_keys(const std::vector<const ConnectionRecord*>& records) {
    struct ServerNumbers {
        WordNumbering numbers;
    };
    std::optional<ServerNumbers> own;
    WordNumbering& servers = scratch_for(records.size(), own).numbers;
    servers.clear();
    std::vector<std::uint64_t> keys(records.size());
    std::uint64_t last = UINT64_MAX;  // no server_key() is this
    std::uint32_t last_number = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const std::uint64_t server = records[i]->server_key();
        if (last != server) last_number = servers.number(server);
        last = server;
        keys[i] = std::uint64_t{last_number} << 1 | (records[i]->protocol == Protocol::udp ? 1 : 0);
    }
    return keys;
}

struct Holding {
    Micros start;
    Micros open_end;      // close, reset, end of the failed attempt, or end of the capture
    Micros occupied_end;  // open_end plus the TIME_WAIT this client holds, if it closed first
};

Holding holding_of(const ConnectionRecords& records, const ConnectionRecord& record,
                   Micros capture_end, Micros time_wait) {
    const Micros last_seen = records.last_seen(record);
    Holding holding{record.first_seen, last_seen, last_seen};
    // A UDP flow holds its port from its first datagram to its last; nothing like TIME_WAIT
    // follows.
    if (record.protocol == Protocol::udp) return holding;
    const ConnectionState state = record.state();
    if (state == ConnectionState::open || state == ConnectionState::half_closed) {
        holding.open_end = holding.occupied_end = capture_end;
        return holding;
    }
    if (record.rst_side != no_side) {
        holding.open_end = holding.occupied_end = records.close_time(record);
        return holding;
    }
    if (record.fin(0) && record.fin(1)) {
        holding.open_end = records.close_time(record);  // the later FIN's
        holding.occupied_end = holding.open_end;
        if (record.first_fin_side == record.client_side) holding.occupied_end += time_wait;
    }
    return holding;
}

// When a holding stops counting: a single-packet attempt held its port for an instant, not for
// no time at all.
Micros end_of(const Holding& holding, bool with_time_wait) noexcept {
    return std::max(holding.start + 1, with_time_wait ? holding.occupied_end : holding.open_end);
}

using Series = std::vector<std::pair<Micros, std::uint32_t>>;

// How many holdings are held at once, swept in start order: a holding's end goes on a heap of
// expiries when it starts, and comes off when a later start reaches it, so the sweep keeps only
// what is held at the time. At equal times a release comes before an allocation: a port freed can
// be taken again. An end may move earlier while held (end_moved): the entry it had is then stale,
// told apart from the current one by the ends the caller keeps, and skipped when it comes up.
class HeldAtOnce {
  public:
    void clear(Series* series = nullptr) {
        in_order_.clear();
        in_order_head_ = 0;
        heap_.clear();
        current_ = peak_ = 0;
        peak_at_ = 0;
        series_ = series;
    }
    // Lets go of every holding ending at or before `time`; `ends` are the current ends, by id.
    void release_until(Micros time, std::span<const Micros> ends) {
        while (!empty() && earliest() <= time) release_earliest(ends);
    }
    void release_all(std::span<const Micros> ends) {
        while (!empty()) release_earliest(ends);
    }
    // Takes one more at `start`, held until `end` (after `start`).
    void take(Micros start, std::uint32_t id, Micros end) {
        push(end, id);
        ++current_;
        note(start);
        if (current_ > peak_) {
            peak_ = current_;
            peak_at_ = start;
        }
    }
    // `id`, held, now ends at `end`: earlier than before, and not before the latest start.
    void end_moved(std::uint32_t id, Micros end) { push(end, id); }

    std::uint32_t peak() const noexcept { return peak_; }
    Micros peak_at() const noexcept { return peak_at_; }

  private:
    using Expiry = std::pair<Micros, std::uint32_t>;  // (end, id)

    static bool later(const Expiry& a, const Expiry& b) noexcept { return a.first > b.first; }

    bool empty() const noexcept { return in_order_head_ == in_order_.size() && heap_.empty(); }
    bool earliest_in_order() const noexcept {
        if (in_order_head_ == in_order_.size()) return false;
        return heap_.empty() || in_order_[in_order_head_].first <= heap_.front().first;
    }
    Micros earliest() const noexcept {
        return earliest_in_order() ? in_order_[in_order_head_].first : heap_.front().first;
    }
    // Ends mostly come in time order (connections of like lengths): those queue up in order, in
    // constant time each; an end earlier than the last queued goes on the heap.
    void push(Micros end, std::uint32_t id) {
        if (in_order_head_ == in_order_.size()) {
            in_order_.clear();
            in_order_head_ = 0;
        }
        if (in_order_.empty() || end >= in_order_.back().first) {
            in_order_.emplace_back(end, id);
            return;
        }
        heap_.emplace_back(end, id);
        std::push_heap(heap_.begin(), heap_.end(), later);
    }
    void release_earliest(std::span<const Micros> ends) {
        Expiry expiry;
        if (earliest_in_order()) {
            expiry = in_order_[in_order_head_++];
        } else {
            expiry = heap_.front();
            std::pop_heap(heap_.begin(), heap_.end(), later);
            heap_.pop_back();
        }
        const auto [end, id] = expiry;
        if (ends[id] != end) return;  // stale: the end moved
        --current_;
        note(end);
    }
    // The count after a change, into the series (one point per time: the last count at it).
    void note(Micros time) {
        if (series_ == nullptr) return;
        if (!series_->empty() && series_->back().first == time) {
            series_->back().second = current_;
        } else {
            series_->emplace_back(time, current_);
        }
    }

    std::vector<Expiry> in_order_;  // ascending by end from in_order_head_
    std::size_t in_order_head_ = 0;
    std::vector<Expiry> heap_;  // earliest end on top
    std::uint32_t current_ = 0;
    std::uint32_t peak_ = 0;
    Micros peak_at_ = 0;
    Series* series_ = nullptr;
};

// The most starts within one second, from starts given in time order: the last second's are
// kept, no more.
class StartsPerSecond {
  public:
    void clear() {
        window_.clear();
        first_ = 0;
        best_ = 0;
    }
    void add(Micros start) {
        window_.push_back(start);
        while (start - window_[first_] >= 1'000'000) ++first_;
        best_ = std::max(best_, window_.size() - first_);
        if (first_ > 64 && first_ * 2 > window_.size()) {  // let go of what left the second
            window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(first_));
            first_ = 0;
        }
    }
    double peak() const noexcept { return static_cast<double>(best_); }

  private:
    std::vector<Micros> window_;
    std::size_t first_ = 0;
    std::size_t best_ = 0;
};

// Keeps at most max_series_points points: per time bucket, the highest value, so peaks survive.
std::vector<std::pair<Micros, std::uint32_t>> downsample(
    const std::vector<std::pair<Micros, std::uint32_t>>& series) {
    if (series.size() <= max_series_points) return series;
    const Micros first = series.front().first;
    const Micros span = std::max<Micros>(1, series.back().first - first);
    std::vector<std::pair<Micros, std::uint32_t>> kept;
    std::size_t bucket_of_last = SIZE_MAX;
    for (const auto& point : series) {
        const auto bucket =
            static_cast<std::size_t>((point.first - first) * (max_series_points - 1) / span);
        if (bucket != bucket_of_last) {
            kept.push_back(point);
            bucket_of_last = bucket;
        } else if (point.second > kept.back().second) {
            kept.back() = point;
        }
    }
    return kept;
}

// A client's connections of one protocol, oldest first, with what both reuse and exhaustion
// look up.
struct ClientConnections {
    const ConnectionRecords& all;                         // what `records` point into
    const std::vector<const ConnectionRecord*>& records;  // the caller's
    const std::vector<std::uint64_t>& servers;            // server_keys(records), the caller's
};

// A client's TCP reuse, counted connection by connection in start order, each with what
// PortHistory found before it.
class ReuseCounter {
  public:
    explicit ReuseCounter(double time_wait_s)
        : time_wait_(static_cast<Micros>(time_wait_s * 1e6)),
          edges_(reuse_interval_edges(time_wait_s)) {}

    void count(const ConnectionRecords& records, const ConnectionRecord& c,
               const ConnectionRecord* previous_on_tuple, const PortHistory::Previous& previous) {
        if (c.time_wait_collision) ++reuse_.time_wait_collisions;
        ReuseKind kind = ReuseKind::other_service;
        if (previous_on_tuple != nullptr) {
            ++reuse_.tuple_reuses;
            kind = ReuseKind::tuple_after_time_wait;
            const ConnectionState state = previous_on_tuple->state();
            if (state == ConnectionState::open || state == ConnectionState::half_closed) {
                ++reuse_.active_reuses;
            } else if (state == ConnectionState::closed && previous_on_tuple->rst_side == no_side) {
                // The first closer holds TIME_WAIT from the last FIN on.
                const Micros last_fin = records.close_time(*previous_on_tuple);
                if (c.first_seen < last_fin + time_wait_) {
                    ++reuse_.time_wait_reuses;
                    kind = ReuseKind::tuple_in_time_wait;
                }
            }
        }
        if (!previous.port_used) return;
        ++reuse_.port_reuses;
        const Micros gap = std::max<Micros>(0, c.first_seen - previous.port_free_after);
        intervals_.add(gap);
        const double gap_s = static_cast<double>(gap) / 1e6;
        const auto bin = std::upper_bound(edges_.begin(), edges_.end(), gap_s) - edges_.begin() - 1;
        ++reuse_.interval_bins[static_cast<std::size_t>(kind)]
                              [static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, bin))];
    }

    ReuseStats finish() {
        reuse_.min_interval_s = static_cast<double>(intervals_.min()) / 1e6;
        reuse_.median_interval_s = intervals_.median() / 1e6;
        return reuse_;
    }

  private:
    Micros time_wait_;
    std::vector<double> edges_;
    ReuseStats reuse_;
    DurationHistogram intervals_;
};

// One destination's sweeps, as the client's connections reach it.
struct DestinationSweep {
    HeldAtOnce open;
    HeldAtOnce occupied;
    StartsPerSecond starts;
    std::uint32_t first = 0;  // its first connection
    std::uint32_t last = 0;   // and its latest (ExhaustionScratch::next_to_same links them)
    std::uint32_t connections = 0;
    std::uint32_t occupied_at_end = 0;

    void clear(std::uint32_t first_connection) {
        open.clear();
        occupied.clear();
        starts.clear();
        first = last = first_connection;
        connections = occupied_at_end = 0;
    }
};

// What measure_exhaustion works in (analysis/scratch.hpp): each connection's record, holding,
// ends as the sweeps count them (end_of) and destination; a sweep per destination, of which
// `destination_count` are this client's.
struct ExhaustionScratch {
    std::vector<const ConnectionRecord*> records;
    std::vector<Holding> holdings;
    std::array<std::vector<Micros>, 2> ends;  // indexed by with_time_wait
    std::vector<std::uint32_t> destination_of;
    std::vector<std::uint32_t> next_to_same;  // the destination's next connection, or no_previous
    std::vector<DestinationSweep> sweeps;
    std::size_t destination_count = 0;
    std::array<HeldAtOnce, 2> total;  // all destinations at once, by with_time_wait
    std::vector<std::uint32_t> order;
    std::vector<std::uint32_t> open_to_the_end;  // connections held with no end yet
};

// A client's occupancy, swept as its connections come in start order (one protocol's: TCP, or
// UDP with no TIME_WAIT): each destination's and the client's as a whole, and with a
// ReuseCounter, the reuse of its ports in the same pass. Connections starting at the same time
// are a group: whatever the group's takeovers end is let go first, then the group is taken, when
// a later start comes or at finish(). A connection still open is held with no end until finish()
// gives it the capture's.
class OccupancySweep {
  public:
    OccupancySweep(ExhaustionScratch& scratch, const ConnectionRecords& records,
                   std::size_t connections, Micros time_wait, ReuseCounter* reuse)
        : scratch_(scratch),
          records_(records),
          time_wait_(time_wait),
          reuse_(reuse),
          history_(connections) {
        scratch_.records.clear();
        scratch_.holdings.clear();
        for (std::vector<Micros>& of_kind : scratch_.ends) of_kind.clear();
        scratch_.destination_of.clear();
        scratch_.next_to_same.clear();
        scratch_.destination_count = 0;
        for (HeldAtOnce& sweep : scratch_.total) sweep.clear();
        scratch_.open_to_the_end.clear();
        // Room for all at once: grown by doubling, a large client's arrays would be copied and
        // faulted in again at every step.
        scratch_.records.reserve(connections);
        scratch_.holdings.reserve(connections);
        for (std::vector<Micros>& of_kind : scratch_.ends) of_kind.reserve(connections);
        scratch_.destination_of.reserve(connections);
        scratch_.next_to_same.reserve(connections);
    }

    // The client's next connection, `record`, towards `server` (a server_keys() key).
    void add(const ConnectionRecord& record, std::uint64_t server) {
        const Micros start = record.first_seen;
        if (group_ < scratch_.records.size() && start != group_start_) take_group();
        group_start_ = start;
        const auto id = static_cast<std::uint32_t>(scratch_.records.size());
        scratch_.records.push_back(&record);
        const Holding holding = holding_of(records_, record, open_to_the_end, time_wait_);
        scratch_.holdings.push_back(holding);
        for (const bool with_time_wait : {false, true}) {
            scratch_.ends[with_time_wait].push_back(end_of(holding, with_time_wait));
        }
        if (holding.open_end == open_to_the_end) scratch_.open_to_the_end.push_back(id);
        // Destinations are numbered in order of first appearance.
        const auto destination = static_cast<std::uint32_t>(server >> 1);
        if (destination == scratch_.destination_count) {
            if (destination == scratch_.sweeps.size()) scratch_.sweeps.emplace_back();
            scratch_.sweeps[scratch_.destination_count++].clear(id);
        } else {
            scratch_.next_to_same[scratch_.sweeps[destination].last] = id;
            scratch_.sweeps[destination].last = id;
        }
        scratch_.destination_of.push_back(destination);
        scratch_.next_to_same.push_back(no_previous);

        const PortHistory::Previous previous =
            history_.use(id, record.client_port(), server, records_.last_seen(record));
        const std::uint32_t earlier = previous.on_tuple;
        if (reuse_ != nullptr) {
            reuse_->count(records_, record,
                          earlier == no_previous ? nullptr : scratch_.records[earlier], previous);
        }
        // A 4-tuple taken over again (tcp_tw_reuse) ends the earlier TIME_WAIT right then.
        if (earlier == no_previous) return;
        Holding& held = scratch_.holdings[earlier];
        held.occupied_end = std::max(held.open_end, std::min(held.occupied_end, start));
        move_end(earlier, true, end_of(held, true));
    }

    // Ends the sweep at `capture_end`: what is still open is held until then.
    void finish(Micros capture_end) {
        for (const std::uint32_t id : scratch_.open_to_the_end) {
            Holding& holding = scratch_.holdings[id];
            holding.open_end = holding.occupied_end = capture_end;
            for (const bool with_time_wait : {false, true}) {
                move_end(id, with_time_wait, end_of(holding, with_time_wait));
            }
        }
        if (group_ < scratch_.records.size()) take_group();
        for (std::size_t id = 0; id < scratch_.holdings.size(); ++id) {
            scratch_.sweeps[scratch_.destination_of[id]].occupied_at_end +=
                scratch_.holdings[id].occupied_end >= capture_end;
        }
    }

  private:
    // An end for the connections still open, after every start: finish() gives them the capture's.
    static constexpr Micros open_to_the_end = std::numeric_limits<Micros>::max();

    // Connection `id`'s end (with or without TIME_WAIT) is now `end`: no later than before, and
    // not before the latest start taken.
    void move_end(std::uint32_t id, bool with_time_wait, Micros end) {
        Micros& current = scratch_.ends[with_time_wait][id];
        if (end == current) return;
        current = end;
        if (id >= group_) return;  // not taken yet
        scratch_.total[with_time_wait].end_moved(id, end);
        DestinationSweep& destination = scratch_.sweeps[scratch_.destination_of[id]];
        (with_time_wait ? destination.occupied : destination.open).end_moved(id, end);
    }

    // Takes the connections added since the last group, all starting at group_start_.
    void take_group() {
        const Micros time = group_start_;
        for (const bool with_time_wait : {false, true}) {
            scratch_.total[with_time_wait].release_until(time, scratch_.ends[with_time_wait]);
        }
        for (; group_ < scratch_.records.size(); ++group_) {
            const auto id = static_cast<std::uint32_t>(group_);
            DestinationSweep& destination = scratch_.sweeps[scratch_.destination_of[id]];
            ++destination.connections;
            destination.starts.add(time);
            for (const bool with_time_wait : {false, true}) {
                const std::vector<Micros>& ends = scratch_.ends[with_time_wait];
                HeldAtOnce& of_destination =
                    with_time_wait ? destination.occupied : destination.open;
                of_destination.release_until(time, ends);
                of_destination.take(time, id, ends[id]);
                scratch_.total[with_time_wait].take(time, id, ends[id]);
            }
        }
    }

    ExhaustionScratch& scratch_;
    const ConnectionRecords& records_;
    Micros time_wait_;
    ReuseCounter* reuse_;
    PortHistory history_;
    std::size_t group_ = 0;  // the first connection not taken yet
    Micros group_start_ = 0;
};

// Destination `destination`'s occupancy over time, swept again from the ends OccupancySweep left
// (as final as they now are, nothing moves).
Series occupied_series(const ExhaustionScratch& scratch, std::uint32_t destination) {
    Series series;
    HeldAtOnce sweep;
    sweep.clear(&series);
    for (std::uint32_t i = scratch.sweeps[destination].first; i != no_previous;
         i = scratch.next_to_same[i]) {
        const Micros start = scratch.holdings[i].start;  // not the record's: it is far away
        sweep.release_until(start, scratch.ends[1]);
        sweep.take(start, i, scratch.ends[1][i]);
    }
    sweep.release_all(scratch.ends[1]);
    return series;
}

// The occupancy of each destination of `tcp` (one protocol's connections: TCP, or UDP with no
// TIME_WAIT), worst first, and of all of them at once; with `reuse`, the ports' reuse counted in
// the same pass.
ExhaustionStats measure_exhaustion(const ClientConnections& tcp, std::uint32_t limit,
                                   Micros capture_end, double time_wait_s, bool unique_per_tuple,
                                   const PortAnalysisOptions& options,
                                   ReuseCounter* reuse = nullptr) {
    ExhaustionStats stats;
    stats.time_wait_s = time_wait_s;
    const double size = std::max<std::uint32_t>(limit, 1);
    std::optional<ExhaustionScratch> own;
    ExhaustionScratch& scratch = scratch_for(tcp.records.size(), own);
    OccupancySweep sweep(scratch, tcp.all, tcp.records.size(),
                         static_cast<Micros>(time_wait_s * 1e6), reuse);
    for (std::size_t i = 0; i < tcp.records.size(); ++i) sweep.add(*tcp.records[i], tcp.servers[i]);
    sweep.finish(capture_end);

    // Destinations in address order, so equally used ones keep that order below.
    std::vector<std::uint32_t>& order = scratch.order;
    order.resize(scratch.destination_count);
    std::iota(order.begin(), order.end(), 0U);
    const auto server_of = [&](std::uint32_t d) {
        return tcp.all.server(*tcp.records[scratch.sweeps[d].first]);
    };
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return server_of(a) < server_of(b); });
    std::vector<DestinationOccupancy> destinations;
    for (const std::uint32_t d : order) {
        const DestinationSweep& sweep = scratch.sweeps[d];
        DestinationOccupancy destination;
        destination.server = server_of(d);
        destination.connections = sweep.connections;
        destination.occupied_at_end = sweep.occupied_at_end;
        destination.peak_open = sweep.open.peak();
        destination.peak_occupied = sweep.occupied.peak();
        destination.peak_at = sweep.occupied.peak_at();
        destination.utilization = destination.peak_occupied / size;
        destination.peak_new_per_s = sweep.starts.peak();
        destination.protocol = tcp.records[sweep.first]->protocol;
        destination.sustainable_new_per_s = time_wait_s > 0 ? size / time_wait_s : 0.0;
        destination.verdict = verdict_for(destination.utilization, options);
        destinations.push_back(std::move(destination));
    }
    stats.peak_open_total = scratch.total[0].peak();
    stats.peak_occupied_total = scratch.total[1].peak();
    // Worst first; equally used ones stay in address order.
    std::vector<std::size_t> worst_first(destinations.size());
    std::iota(worst_first.begin(), worst_first.end(), std::size_t{0});
    std::stable_sort(worst_first.begin(), worst_first.end(), [&](std::size_t a, std::size_t b) {
        return destinations[a].utilization > destinations[b].utilization;
    });
    for (const std::size_t d : worst_first) {
        // Only the worst destinations carry their occupancy over time: computed for them alone,
        // not for every destination and then dropped.
        if (options.occupancy_series && stats.destinations.size() < destinations_with_series) {
            destinations[d].occupied_series = downsample(occupied_series(scratch, order[d]));
        }
        stats.destinations.push_back(std::move(destinations[d]));
    }
    if (!stats.destinations.empty()) stats.utilization = stats.destinations.front().utilization;
    // Where a port is unique per local address (macOS, OpenBSD), every destination shares it.
    if (!unique_per_tuple)
        stats.utilization = std::max(stats.utilization, stats.peak_occupied_total / size);
    stats.verdict = verdict_for(stats.utilization, options);
    return stats;
}

}  // namespace

std::vector<double> reuse_interval_edges(double time_wait_s) {
    std::vector<double> edges = {
        0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, time_wait_s, 2 * time_wait_s, 5 * time_wait_s};
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    return edges;
}

Verdict verdict_for(double utilization, const PortAnalysisOptions& options) {
    if (utilization >= options.exhausted_at) return Verdict::exhausted;
    if (utilization >= options.critical_at) return Verdict::critical;
    if (utilization >= options.warning_at) return Verdict::warning;
    return Verdict::ok;
}

std::string_view verdict_name(Verdict verdict) noexcept {
    switch (verdict) {
        case Verdict::unknown:
            return "unknown";
        case Verdict::ok:
            return "ok";
        case Verdict::warning:
            return "warning";
        case Verdict::critical:
            return "critical";
        case Verdict::exhausted:
            return "exhausted";
    }
    return "ok";
}

namespace {

// The steps between a client's allocations, counted connection by connection in start order:
// between consecutive ones, across a change of destination, and within one destination (pairs
// less than per_destination_window apart), with what each destination's latest allocation was.
class AllocationSteps {
  public:
    // For a client of `connections` connections (scratch_for).
    explicit AllocationSteps(std::size_t connections) : latest_(scratch_for(connections, own_)) {
        latest_.clear();
    }
    AllocationSteps(const AllocationSteps&) = delete;
    AllocationSteps& operator=(const AllocationSteps&) = delete;

    // `record` allocated its client port towards `server` (a server_keys() key).
    void add(const ConnectionRecord& record, std::uint64_t server) {
        const std::uint16_t port = record.client_port();
        even_ += port % 2 == 0;
        low_ = std::min(low_, port);
        high_ = std::max(high_, port);
        if (samples_++ > 0) {
            const int step = port - previous_port_;
            ++steps_;
            small_ += is_small_step(step);
            plus_one_ += step == 1;
            if (previous_server_ != server) {
                ++cross_;
                cross_small_ += is_small_step(step);
            }
        }
        previous_port_ = port;
        previous_server_ = server;
        const std::size_t destination = server >> 1;  // numbered in order of first appearance
        if (destination >= latest_.size()) latest_.resize(destination + 1);
        Latest& latest = latest_[destination];
        if (latest.seen && record.first_seen - latest.first_seen < per_destination_window) {
            ++within_;
            within_small_ += is_small_step(port - latest.port);
        }
        latest = {record.first_seen, port, true};
    }

    AllocationFingerprint finish() const {
        AllocationFingerprint result;
        result.samples = static_cast<std::uint32_t>(samples_);
        if (samples_ == 0) return result;
        result.even_share = static_cast<double>(even_) / static_cast<double>(samples_);
        result.unknown_because = UnknownBecause::too_few;
        if (samples_ < min_fingerprint_samples) return result;
        result.unknown_because = UnknownBecause::no_pattern;
        const double small_share = static_cast<double>(small_) / static_cast<double>(steps_);
        const bool several_destinations = cross_ >= 5;
        if (small_share >= pattern_share) {
            // One rising sequence. To a single destination, Linux's even steps of 2-16 look the
            // same as a global counter would; its even ports and lack of +1 steps tell them apart.
            const bool linux_like =
                !several_destinations && plus_one_ < steps_ / 2 && result.even_share >= 0.8;
            result.pattern =
                linux_like ? AllocationPattern::per_destination : AllocationPattern::sequential;
            result.confidence = wilson_lower_bound(small_, steps_);
        } else if (several_destinations && within_ >= 5 &&
                   within_small_ >= pattern_share * within_ &&
                   cross_small_ <= (1 - pattern_share) * cross_) {
            result.pattern = AllocationPattern::per_destination;
            result.confidence =
                wilson_lower_bound(within_small_ + (cross_ - cross_small_), within_ + cross_);
        } else if (small_share <= random_small_share) {
            result.pattern = AllocationPattern::random;
            result.confidence = wilson_lower_bound(steps_ - small_, steps_);
        }
        if (result.pattern != AllocationPattern::unknown)
            result.unknown_because = UnknownBecause::known;
        result.os_hint = os_hint_for(result.pattern, low_, high_);
        return result;
    }

  private:
    struct Latest {
        Micros first_seen = 0;
        std::uint16_t port = 0;
        bool seen = false;
    };

    std::uint64_t samples_ = 0, even_ = 0;
    std::uint16_t low_ = 65535, high_ = 0;
    std::uint64_t steps_ = 0, small_ = 0, plus_one_ = 0, cross_ = 0, cross_small_ = 0;
    std::uint64_t within_ = 0, within_small_ = 0;
    std::uint16_t previous_port_ = 0;
    std::uint64_t previous_server_ = 0;
    std::optional<std::vector<Latest>> own_;
    std::vector<Latest>& latest_;  // by destination number
};

// fingerprint_allocation with each connection's server_keys already known.
AllocationFingerprint fingerprint_with_servers(
    const std::vector<const ConnectionRecord*>& connections,
    const std::vector<std::uint64_t>& servers) {
    AllocationSteps steps(connections.size());
    for (std::size_t i = 0; i < connections.size(); ++i) steps.add(*connections[i], servers[i]);
    return steps.finish();
}

// Adds the UDP destinations to the TCP ones, worst first, and the UDP total to the client's
// utilization: UDP ports are unique per local address, so all destinations share them.
void merge_udp(ExhaustionStats& stats, ExhaustionStats udp, const PortAnalysisOptions& options) {
    stats.udp_peak_occupied_total = udp.peak_occupied_total;

    std::vector<DestinationOccupancy> merged;
    merged.reserve(stats.destinations.size() + udp.destinations.size());
    std::merge(std::make_move_iterator(stats.destinations.begin()),
               std::make_move_iterator(stats.destinations.end()),
               std::make_move_iterator(udp.destinations.begin()),
               std::make_move_iterator(udp.destinations.end()), std::back_inserter(merged),
               [](const DestinationOccupancy& a, const DestinationOccupancy& b) {
                   return a.utilization > b.utilization;
               });
    stats.destinations = std::move(merged);
    stats.utilization = std::max(stats.utilization, udp.utilization);
    stats.verdict = verdict_for(stats.utilization, options);
}

}  // namespace

AllocationFingerprint fingerprint_allocation(
    const std::vector<const ConnectionRecord*>& connections) {
    return fingerprint_with_servers(connections, server_keys(connections));
}

std::string os_hint_note(const AllocationFingerprint& allocation) {
    if (allocation.dropped_hint.empty()) return "";
    return fmt::format(
        "a {} allocator points to {}, but the ports fill {}'s default range instead: "
        "an application choosing its own ports, or a system not profiled",
        pattern_name(allocation.pattern), profile_names(allocation.dropped_hint),
        allocation.dropped_for->basis);
}

std::string_view unknown_because_name(UnknownBecause because) noexcept {
    switch (because) {
        case UnknownBecause::known:
            return "";
        case UnknownBecause::no_connections:
            return "no-connections";
        case UnknownBecause::no_handshakes:
            return "no-handshakes";
        case UnknownBecause::too_few:
            return "too-few";
        case UnknownBecause::no_pattern:
            return "no-pattern";
    }
    return "";
}

std::string_view RangeEstimate::basis_name() const noexcept {
    switch (evidence) {
        case RangeEvidence::configured:
            return "configured";
        case RangeEvidence::gateway:
            return gateway;
        case RangeEvidence::none:
            return "unknown";
        case RangeEvidence::cycled:
        case RangeEvidence::os_default:
        case RangeEvidence::estimated:
            break;
    }
    return os_default != nullptr ? os_default->basis : "observed";
}

std::string_view evidence_name(RangeEvidence evidence) noexcept {
    switch (evidence) {
        case RangeEvidence::configured:
            return "configured";
        case RangeEvidence::gateway:
            return "gateway";
        case RangeEvidence::cycled:
            return "cycled";
        case RangeEvidence::os_default:
            return "os-default";
        case RangeEvidence::estimated:
            return "estimated";
        case RangeEvidence::none:
            return "none";
    }
    return "none";
}

RangeEstimate infer_range(const std::vector<std::uint16_t>& ports, AllocationPattern pattern,
                          TableSet hint) {
    PortSet set;
    for (const std::uint16_t port : ports) set.add(port);
    return infer_range(set, pattern, hint);
}

RangeEstimate infer_range(PortSet& used, AllocationPattern pattern, TableSet hint) {
    RangeEstimate estimate;
    estimate.allocations = used.added();
    struct RangeScratch {
        std::vector<std::uint16_t> ports;
    };
    std::optional<RangeScratch> own;
    std::vector<std::uint16_t>& ports = scratch_for(used.added(), own).ports;
    used.in_order(ports);
    if (ports.empty()) return estimate;
    const std::uint16_t low = ports.front();
    const std::uint16_t high = ports.back();
    const std::size_t distinct = ports.size();
    estimate.ports_seen = static_cast<std::uint32_t>(distinct);
    estimate.seen = {low, high};
    const std::uint32_t span = std::uint32_t{high} - low + 1;
    // The German tank estimate: the unseen margin beyond each end is about one average gap
    // between the ports seen. Never more than doubles the observed span.
    const double gap = distinct > 1 ? static_cast<double>(high - low) / (distinct - 1) - 1 : 0;
    const auto margin = static_cast<std::uint32_t>(std::clamp(std::round(gap), 0.0, span / 2.0));
    const PortRange extended{
        static_cast<std::uint16_t>(std::max<int>(1, low - static_cast<int>(margin))),
        static_cast<std::uint16_t>(std::min<std::uint32_t>(65535, high + margin))};

    // Each port used twice or more on average: the allocator has been round its whole range.
    const bool cycled = distinct >= 2 && estimate.allocations >= 2 * distinct;
    if (cycled) {
        estimate.range = extended;
        estimate.evidence = RangeEvidence::cycled;
        for (const RangeDefault& entry : range_defaults()) {
            const double tolerance = entry.range.size() * 0.01;
            if (std::abs(entry.range.low - extended.low) <= tolerance &&
                std::abs(entry.range.high - extended.high) <= tolerance) {
                estimate.range = entry.range;
                estimate.os_default = &entry;
            }
        }
        return estimate;
    }

    // Otherwise a default holding every port: among those of the systems the allocator points
    // to, if it points to any, the narrowest.
    std::vector<std::size_t> fitting;  // indices into range_defaults()
    fitting.reserve(range_defaults().size());
    for (std::size_t index = 0; index < range_defaults().size(); ++index) {
        const RangeDefault& entry = range_defaults()[index];
        if (!entry.range.contains(low, high)) continue;
        if (pattern == AllocationPattern::random && distinct >= 10) {
            // Random ports fill their range evenly: a default they cluster inside is not theirs.
            std::vector<double> values(ports.begin(), ports.end());
            if (uniform_ks_p_value(values, entry.range.low, entry.range.high + 1.0) <
                uniform_p_threshold)
                continue;
        }
        fitting.push_back(index);
    }
    const auto hinted = [&](std::size_t entry) {
        for (std::size_t profile = 0; profile < os_profiles().size(); ++profile) {
            if (hint.contains(profile) && os_profiles()[profile].range_default == entry)
                return true;
        }
        return false;
    };
    if (!hint.empty() && std::any_of(fitting.begin(), fitting.end(), hinted)) {
        std::erase_if(fitting, [&](std::size_t entry) { return !hinted(entry); });
    }
    if (!fitting.empty()) {
        for (const std::size_t entry : fitting) estimate.fits.add(entry);
        // The narrowest, as default_names lists it first.
        const RangeDefault* chosen = narrowest_default(estimate.fits);
        estimate.range = chosen->range;
        estimate.os_default = chosen;
        estimate.evidence = RangeEvidence::os_default;
        return estimate;
    }
    estimate.range = extended;
    estimate.evidence = RangeEvidence::estimated;
    return estimate;
}

namespace {

// A connection whose client port can be an ephemeral one: not a well-known port, and not the
// same port as the server's (NTP's 123 <-> 123, mDNS's 5353 <-> 5353: a service talking to
// itself, or a port the application chose).
bool is_ephemeral_use(const ConnectionRecord& record) {
    return record.client_port() >= 1024 && record.client_port() != record.server_port();
}

// Where the range is an OS default, the hint names only the systems whose default it can be: a
// hint of "freebsd or solaris" with ports that fill only Solaris's range evenly says "solaris".
void narrow_hint_to_range(AllocationFingerprint& allocation, const RangeEstimate& range) {
    if (range.evidence != RangeEvidence::os_default || allocation.os_hint.empty()) return;
    TableSet narrowed;
    for (std::size_t profile = 0; profile < os_profiles().size(); ++profile) {
        if (!allocation.os_hint.contains(profile)) continue;
        if (range.fits.contains(os_profiles()[profile].range_default)) narrowed.add(profile);
    }
    if (!narrowed.empty()) {
        allocation.os_hint = narrowed;
        return;
    }
    // The allocator points to systems whose defaults the ports do not fill (random ports that
    // fill Linux's range: an application binding ports of its own choosing). The ports win; the
    // hint goes, and os_hint_note says why.
    allocation.dropped_hint = allocation.os_hint;
    allocation.dropped_for = range.os_default;
    allocation.os_hint.clear();
}

// What the command line gives for `client` (--range, --gateway), if anything: the setting for
// its address, which holds in every segment, else the one for every client.
template <typename Setting>
std::optional<Setting> configured_for(const Address& client,
                                      const std::vector<std::pair<Address, Setting>>& per_address,
                                      const std::optional<Setting>& for_every_client) {
    Address in_any_segment = client;
    in_any_segment.segment = 0;
    for (const auto& [address, setting] : per_address) {
        if (address == in_any_segment) return setting;
    }
    return for_every_client;
}

}  // namespace

ClientPorts analyze_client_ports(const ConnectionRecords& records, const Address& client,
                                 std::span<const ConnectionRecord* const> connections,
                                 Micros capture_end, const PortAnalysisOptions& options) {
    // The measures below sweep the connections in start order: a list out of it is put in it
    // first (a copy), so that a caller's mistake costs time, not wrong numbers.
    const auto starts_earlier = [](const ConnectionRecord* a, const ConnectionRecord* b) {
        return a->first_seen < b->first_seen;
    };
    std::vector<const ConnectionRecord*> in_start_order;
    if (!std::is_sorted(connections.begin(), connections.end(), starts_earlier)) {
        in_start_order.assign(connections.begin(), connections.end());
        std::stable_sort(in_start_order.begin(), in_start_order.end(), starts_earlier);
        connections = in_start_order;
    }
    struct ClientScratch {
        std::vector<const ConnectionRecord*> tcp;
        std::vector<const ConnectionRecord*> tcp_allocated;  // whose SYN the capture holds
        std::vector<const ConnectionRecord*> udp;
        std::vector<const ConnectionRecord*> udp_ephemeral;
        PortSet ports;  // the ephemeral ports used
        std::vector<std::uint64_t> tcp_allocated_servers;
        AllocatedConnections allocated;  // tcp_allocated, as detect_shared_address reads them
    };
    std::optional<ClientScratch> own;
    auto& [tcp, tcp_allocated, udp, udp_ephemeral, ports, tcp_allocated_servers, allocated] =
        scratch_for(connections.size(), own);
    for (auto* list : {&tcp, &tcp_allocated, &udp, &udp_ephemeral}) list->clear();
    ports.clear();
    tcp_allocated_servers.clear();
    allocated.ports.clear();
    allocated.fingerprints.clear();
    ClientPorts result;
    for (std::size_t i = 0; i < connections.size(); ++i) {
        if (i + fetch_ahead < connections.size()) fetch(connections[i + fetch_ahead]);
        const ConnectionRecord* record = connections[i];
        if (is_ephemeral_use(*record)) ports.add(record->client_port());
        if (record->protocol == Protocol::udp) {
            udp.push_back(record);
            continue;
        }
        tcp.push_back(record);
        if (record->role_reason == RoleReason::syn) {
            tcp_allocated.push_back(record);
            if (options.shared_addresses) {
                allocated.ports.push_back(record->client_port());
                allocated.fingerprints.add(syn_fingerprint(*record));
            }
        }
        result.failures.count(*record);
    }

    // Server keys once for all TCP connections; those with a SYN are some of them, and the
    // keys only need to tell servers apart.
    const std::vector<std::uint64_t> tcp_servers = server_keys(tcp);
    for (std::size_t i = 0; i < tcp.size(); ++i) {
        if (tcp[i]->role_reason == RoleReason::syn) tcp_allocated_servers.push_back(tcp_servers[i]);
    }
    result.allocation = fingerprint_with_servers(tcp_allocated, tcp_allocated_servers);
    if (tcp_allocated.empty() && !tcp.empty()) {
        result.allocation.unknown_because = UnknownBecause::no_handshakes;
    }
    if (options.shared_addresses) {
        allocated.servers = tcp_allocated_servers;
        result.shared = detect_shared_address(
            allocated, result.allocation.pattern == AllocationPattern::random);
    }
    if (result.shared.evidence == SharedEvidence::interleaved_sequences) {
        // Several allocators interleaved: no one system's pattern, and no hint.
        result.allocation.pattern = AllocationPattern::mixed;
        result.allocation.unknown_because = UnknownBecause::known;
        result.allocation.confidence = result.shared.sequences_share;
        result.allocation.os_hint.clear();
        result.shared.destination = records.server(*tcp_allocated[result.shared.destination_first]);
    } else if (result.shared.syn_fingerprints >= 2) {
        // Several systems' SYNs: no one system's hint.
        result.allocation.os_hint.clear();
    }
    result.allocation_udp = fingerprint_allocation(udp);
    if (!udp.empty()) {
        std::uint16_t low = 65535, high = 0;
        for (const ConnectionRecord* record : udp) {
            low = std::min(low, record->client_port());
            high = std::max(high, record->client_port());
        }
        result.allocation_udp.os_hint = udp_os_hint(low, high);
    }

    result.range = infer_range(ports, result.allocation.pattern, result.allocation.os_hint);
    narrow_hint_to_range(result.allocation, result.range);
    if (const std::optional<PortRange> given =
            configured_for(client, options.client_ranges, options.range)) {
        RangeEstimate& range = result.range;
        range.range = *given;
        range.evidence = RangeEvidence::configured;
        range.os_default = nullptr;
        range.fits.clear();
        std::vector<std::uint16_t> distinct;
        ports.in_order(distinct);
        range.outside = static_cast<std::uint32_t>(std::count_if(
            distinct.begin(), distinct.end(),
            [&](std::uint16_t port) { return port < given->low || port > given->high; }));
    }

    const OsProfile* profile = single_profile(result.allocation.os_hint);
    double time_wait_s = options.time_wait_s.value_or(profile != nullptr ? profile->time_wait_s
                                                                         : default_time_wait_s);
    bool unique_per_tuple = profile == nullptr || profile->port_unique_per_tuple;
    if (const std::optional<GatewayLimit> gateway =
            configured_for(client, options.client_gateways, options.gateway)) {
        // A translator's ports are judged per destination, against its own limit; its TIME_WAIT
        // where it documents one.
        RangeEstimate& range = result.range;
        range.range = {1024, 65535};
        range.evidence = RangeEvidence::gateway;
        range.os_default = nullptr;
        range.gateway = gateway->name;
        range.fits.clear();
        range.capacity = gateway->ports_per_destination;
        if (!options.time_wait_s && gateway->time_wait_s > 0) time_wait_s = gateway->time_wait_s;
        unique_per_tuple = true;
    }
    ReuseCounter reuse(time_wait_s);
    result.exhaustion =
        measure_exhaustion({records, tcp, tcp_servers}, result.range.limit(), capture_end,
                           time_wait_s, unique_per_tuple, options, &reuse);
    result.reuse = reuse.finish();
    // UDP is a port space of its own, each port unique per local address.
    for (const ConnectionRecord* record : udp) {
        if (is_ephemeral_use(*record)) udp_ephemeral.push_back(record);
    }
    if (!udp_ephemeral.empty()) {
        const std::vector<std::uint64_t> keys = server_keys(udp_ephemeral);
        merge_udp(result.exhaustion,
                  measure_exhaustion({records, udp_ephemeral, keys}, result.range.limit(),
                                     capture_end, 0.0, false, options),
                  options);
    }
    if (ports.added() == 0) {
        // No ephemeral port was seen in use: there is no range to measure occupancy against.
        result.exhaustion.utilization = 0;
        result.exhaustion.verdict = Verdict::unknown;
        for (DestinationOccupancy& destination : result.exhaustion.destinations) {
            destination.utilization = 0;
            destination.verdict = Verdict::unknown;
        }
    }
    return result;
}

}  // namespace ephemera
