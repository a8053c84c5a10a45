#include "ephemera/analysis/shared_address.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

#include "ephemera/analysis/os_profiles.hpp"
#include "ephemera/analysis/statistics.hpp"

namespace ephemera {
namespace {

// The largest step within one host's sequence: Linux's per-destination allocator steps by 2 to
// 16 between connections to one destination, more where ports in use are skipped; a global
// counter by the connections to other destinations in between.
constexpr int max_sequence_step = 64;

struct Sequence {
    std::uint16_t last = 0;  // its latest port
    std::uint32_t length = 0;
    std::uint32_t first_index = 0;  // of its first and latest ports, in start order
    std::uint32_t last_index = 0;
};

struct SequencesFound {
    std::uint32_t at_once = 0;  // the most long sequences under way at the same time
    std::uint32_t covered = 0;  // ports in long sequences
};

constexpr std::uint32_t no_sequence = 0;

// Scratch space for find_sequences, one per thread: which sequence ends at each port, and a bit
// per port that has one, so the nearest end below a port is found a word at a time.
struct SequenceEnds {
    std::vector<std::uint32_t> at = std::vector<std::uint32_t>(65536, no_sequence);
    std::array<std::uint64_t, 65536 / 64> marked{};

    void set(std::uint16_t port, std::uint32_t sequence) {
        at[port] = sequence;
        if (sequence == no_sequence) {
            marked[port / 64] &= ~(std::uint64_t{1} << (port % 64));
        } else {
            marked[port / 64] |= std::uint64_t{1} << (port % 64);
        }
    }
    // The sequence ending closest below `port`, at most max_sequence_step below; no_sequence if
    // none does.
    std::uint32_t nearest_below(std::uint16_t port) const {
        if (port == 0) return no_sequence;
        const int highest = port - 1;
        const int lowest = std::max(0, port - max_sequence_step);
        for (int word = highest / 64; word >= lowest / 64; --word) {
            std::uint64_t bits = marked[static_cast<std::size_t>(word)];
            if (word == highest / 64 && highest % 64 != 63) {
                bits &= (std::uint64_t{1} << (highest % 64 + 1)) - 1;
            }
            if (bits == 0) continue;
            const int found = word * 64 + 63 - std::countl_zero(bits);
            return found >= lowest ? at[static_cast<std::size_t>(found)] : no_sequence;
        }
        return no_sequence;
    }
};

// Splits `ports` (one destination's, in start order) into rising sequences: each port extends
// the sequence whose latest port lies closest below it, at most max_sequence_step below, or
// starts a sequence of its own. `ends` is left as it was found (empty).
SequencesFound find_sequences(std::span<const std::uint16_t> ports, SequenceEnds& ends) {
    std::vector<Sequence> sequences;
    for (std::uint32_t index = 0; index < ports.size(); ++index) {
        const std::uint16_t port = ports[index];
        const std::uint32_t chosen = ends.nearest_below(port);  // sequence number + 1
        if (chosen == no_sequence) {
            sequences.push_back({port, 1, index, index});
            ends.set(port, static_cast<std::uint32_t>(sequences.size()));
            continue;
        }
        Sequence& sequence = sequences[chosen - 1];
        if (ends.at[sequence.last] == chosen) ends.set(sequence.last, no_sequence);
        sequence.last = port;
        ++sequence.length;
        sequence.last_index = index;
        ends.set(port, chosen);
    }
    SequencesFound found;
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;  // long sequences' [first, last]
    for (const Sequence& sequence : sequences) {
        ends.set(sequence.last, no_sequence);
        if (sequence.length < min_sequence_length) continue;
        found.covered += sequence.length;
        spans.emplace_back(sequence.first_index, std::int64_t{sequence.last_index} + 1);
    }
    found.at_once = most_open_at_once(spans);
    return found;
}

// Ports drawn at random from a span no default range holds, but a translator's does: below every
// default that reaches above 49151 (FreeBSD's starts at 10000) and above OpenBSD's, the only
// default reaching below 10000 but Windows XP's.
bool translator_like(std::span<const std::uint16_t> ports) {
    const auto [lowest, highest] = std::minmax_element(ports.begin(), ports.end());
    const std::uint16_t low = *lowest;
    const std::uint16_t high = *highest;
    for (const RangeDefault& entry : range_defaults()) {
        if (entry.range.contains(low, high)) return false;
    }
    return low < 10000 && high > 49151;
}

// Connection indices grouped by destination, each group in start order: a counting sort over
// the servers' small numbers (ports.cpp's server_keys).
std::vector<std::uint32_t> grouped_by_destination(std::span<const std::uint64_t> servers) {
    std::vector<std::uint32_t> order(servers.size());
    std::uint64_t groups = 0;
    for (const std::uint64_t server : servers) groups = std::max(groups, server + 1);
    if (groups > 4 * servers.size() + 64) {  // not small numbers: sort instead
        for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return servers[a] < servers[b]; });
        return order;
    }
    std::vector<std::uint32_t> next(groups + 1);
    for (const std::uint64_t server : servers) ++next[server + 1];
    for (std::size_t group = 1; group < next.size(); ++group) next[group] += next[group - 1];
    for (std::uint32_t i = 0; i < servers.size(); ++i) order[next[servers[i]]++] = i;
    return order;
}

struct FingerprintsFound {
    std::uint8_t count = 0;
    std::uint8_t layouts = 0;
    std::array<std::uint8_t, 4> ttls{};
};

// The fingerprints carrying at least min_fingerprint_syns of the SYNs, if the SYNs pass from one
// to another at least min_fingerprint_switches times in start order; none otherwise.
FingerprintsFound find_fingerprints(const FingerprintTally& tally) {
    const std::vector<std::uint16_t> frequent = tally.frequent();
    if (frequent.size() < 2 || !tally.switched_enough()) return {};
    FingerprintsFound result;
    result.count = static_cast<std::uint8_t>(frequent.size());
    std::vector<std::uint8_t> ttls, layouts;
    for (const std::uint16_t key : frequent) {
        ttls.push_back(static_cast<std::uint8_t>(key >> 8));
        layouts.push_back(static_cast<std::uint8_t>(key & 0xff));
    }
    for (auto* values : {&ttls, &layouts}) {
        std::sort(values->begin(), values->end());
        values->erase(std::unique(values->begin(), values->end()), values->end());
    }
    result.layouts = static_cast<std::uint8_t>(layouts.size());
    std::copy_n(ttls.begin(), std::min(ttls.size(), result.ttls.size()), result.ttls.begin());
    return result;
}

// The most rising sequences at once towards any one destination, where they hold enough of its
// connections: written to `result` as the interleaved-sequences evidence.
void find_interleaved_sequences(const AllocatedConnections& connections, SharedAddress& result) {
    const std::span<const std::uint64_t> servers = connections.servers;
    const std::vector<std::uint32_t> order = grouped_by_destination(servers);
    // One table per thread (264 KiB), however many clients it analyzes.
    thread_local SequenceEnds ends;
    std::vector<std::uint16_t> ports;
    for (std::size_t begin = 0, end = 0; begin < order.size(); begin = end) {
        end = begin;
        ports.clear();
        while (end < order.size() && servers[order[end]] == servers[order[begin]]) {
            ports.push_back(connections.ports[order[end++]]);
        }
        if (ports.size() < min_connections_for_sequences) continue;
        // Ports that never fall make sequences one after another, never two at once (a port
        // more than max_sequence_step above the last starts one the next ports cannot reach
        // back to): one host's per-destination or global counter, the commonest case.
        if (std::is_sorted(ports.begin(), ports.end())) continue;
        const SequencesFound found = find_sequences(ports, ends);
        const double share = static_cast<double>(found.covered) / ports.size();
        if (found.at_once < 2 || share < min_sequences_share) continue;
        if (found.at_once <= result.hosts_estimate) continue;
        result.likely = true;
        result.evidence = SharedEvidence::interleaved_sequences;
        result.hosts_estimate =
            static_cast<std::uint8_t>(std::min<std::uint32_t>(found.at_once, 255));
        result.destination_first = order[begin];
        result.destination_connections = static_cast<std::uint32_t>(ports.size());
        result.sequences_share = static_cast<float>(share);
    }
}

}  // namespace

void FingerprintTally::add(std::uint16_t fingerprint) {
    if (fingerprint >> 8 == 0) return;  // no TTL: not known (a conn.log's)
    const auto found = std::find_if(seen_.begin(), seen_.end(),
                                    [&](const Seen& entry) { return entry.key == fingerprint; });
    if (found != seen_.end()) {
        ++found->syns;
    } else if (seen_.size() < max_fingerprints) {
        seen_.push_back({fingerprint, 1});
    } else {
        return;  // one of a crowd: neither counted nor followed
    }
    if (switched_enough_ || (!runs_.empty() && runs_.back() == fingerprint)) return;
    runs_.push_back(fingerprint);
    if (switched_enough()) {
        switched_enough_ = true;
        runs_ = {};
    }
}

void FingerprintTally::clear() {
    seen_.clear();
    runs_.clear();
    switched_enough_ = false;
}

bool FingerprintTally::is_frequent(std::uint16_t fingerprint) const {
    return std::any_of(seen_.begin(), seen_.end(), [&](const Seen& entry) {
        return entry.key == fingerprint && entry.syns >= min_fingerprint_syns;
    });
}

std::vector<std::uint16_t> FingerprintTally::frequent() const {
    std::vector<std::uint16_t> keys;
    for (const Seen& entry : seen_) {
        if (entry.syns >= min_fingerprint_syns) keys.push_back(entry.key);
    }
    return keys;
}

bool FingerprintTally::switched_enough() const {
    if (switched_enough_) return true;
    std::uint32_t switches = 0;
    std::uint16_t previous = 0;
    bool any_before = false;
    for (const std::uint16_t key : runs_) {
        if (!is_frequent(key)) continue;
        switches += any_before && key != previous;
        previous = key;
        any_before = true;
    }
    return switches >= min_fingerprint_switches;
}

std::string_view shared_evidence_name(SharedEvidence evidence) noexcept {
    switch (evidence) {
        case SharedEvidence::none:
            return "none";
        case SharedEvidence::interleaved_sequences:
            return "interleaved-sequences";
        case SharedEvidence::translator_ports:
            return "translator-ports";
        case SharedEvidence::syn_fingerprints:
            return "syn-fingerprints";
        case SharedEvidence::both_sides:
            return "both-sides";
    }
    return "none";
}

SharedAddress detect_shared_address(const AllocatedConnections& connections, bool random) {
    SharedAddress result;
    if (connections.ports.size() < 2 * min_fingerprint_syns) return result;
    if (connections.ports.size() >= min_connections_for_sequences) {
        find_interleaved_sequences(connections, result);
    }
    if (!result.likely && random && translator_like(connections.ports)) {
        result.likely = true;
        result.evidence = SharedEvidence::translator_ports;
    }
    const FingerprintsFound fingerprints = find_fingerprints(connections.fingerprints);
    if (fingerprints.count < 2) return result;
    result.likely = true;
    result.syn_fingerprints = fingerprints.count;
    result.fingerprint_layouts = fingerprints.layouts;
    result.fingerprint_ttls = fingerprints.ttls;
    if (result.evidence == SharedEvidence::none) result.evidence = SharedEvidence::syn_fingerprints;
    if (fingerprints.count > result.hosts_estimate) {
        result.hosts_estimate = fingerprints.count;
        result.hosts_at_least = true;
    }
    return result;
}

}  // namespace ephemera
