#include "ephemera/analysis/shared_address.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "ephemera/analysis/os_profiles.hpp"

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

// Splits `ports` (one destination's, in start order) into rising sequences: each port extends
// the sequence whose latest port lies closest below it, at most max_sequence_step below, or
// starts a sequence of its own. `ending_at` (65536 entries, all no_sequence) is scratch space,
// left as it was found.
SequencesFound find_sequences(std::span<const std::uint16_t> ports,
                              std::vector<std::uint32_t>& ending_at) {
    std::vector<Sequence> sequences;
    for (std::uint32_t index = 0; index < ports.size(); ++index) {
        const std::uint16_t port = ports[index];
        std::uint32_t chosen = no_sequence;  // sequence number + 1
        for (int step = 1; step <= max_sequence_step && port - step >= 0 && chosen == no_sequence;
             ++step) {
            chosen = ending_at[static_cast<std::size_t>(port - step)];
        }
        if (chosen == no_sequence) {
            sequences.push_back({port, 1, index, index});
            ending_at[port] = static_cast<std::uint32_t>(sequences.size());
            continue;
        }
        Sequence& sequence = sequences[chosen - 1];
        ending_at[sequence.last] = no_sequence;
        sequence.last = port;
        ++sequence.length;
        sequence.last_index = index;
        ending_at[port] = chosen;
    }
    SequencesFound found;
    std::vector<std::pair<std::uint32_t, int>> bounds;  // (index, +1 at a start, -1 after an end)
    for (const Sequence& sequence : sequences) {
        ending_at[sequence.last] = no_sequence;
        if (sequence.length < min_sequence_length) continue;
        found.covered += sequence.length;
        bounds.emplace_back(sequence.first_index, 1);
        bounds.emplace_back(sequence.last_index + 1, -1);
    }
    std::sort(bounds.begin(), bounds.end());
    int under_way = 0;
    for (const auto& [index, change] : bounds) {
        under_way += change;
        found.at_once = std::max(found.at_once, static_cast<std::uint32_t>(under_way));
    }
    return found;
}

// Ports drawn at random from a span no default range holds, but a translator's does: below every
// default that reaches above 49151 (FreeBSD's starts at 10000) and above OpenBSD's, the only
// default reaching below 10000 but Windows XP's.
bool translator_like(std::span<const ConnectionRecord* const> connections) {
    std::uint16_t low = 65535;
    std::uint16_t high = 0;
    for (const ConnectionRecord* record : connections) {
        low = std::min(low, record->client_port());
        high = std::max(high, record->client_port());
    }
    for (const RangeDefault& entry : range_defaults()) {
        if (entry.range.contains(low, high)) return false;
    }
    return low < 10000 && high > 49151;
}

}  // namespace

std::string_view shared_evidence_name(SharedEvidence evidence) noexcept {
    switch (evidence) {
        case SharedEvidence::none:
            return "none";
        case SharedEvidence::interleaved_sequences:
            return "interleaved-sequences";
        case SharedEvidence::translator_ports:
            return "translator-ports";
    }
    return "none";
}

SharedAddress detect_shared_address(std::span<const ConnectionRecord* const> connections,
                                    std::span<const std::uint64_t> servers, bool random) {
    SharedAddress result;
    if (connections.size() < min_connections_for_sequences) return result;
    struct Destination {
        std::uint32_t first = 0;  // index of its first connection
        std::vector<std::uint16_t> ports;
    };
    std::map<std::uint64_t, Destination> destinations;
    for (std::size_t i = 0; i < connections.size(); ++i) {
        auto [entry, added] = destinations.try_emplace(servers[i]);
        if (added) entry->second.first = static_cast<std::uint32_t>(i);
        entry->second.ports.push_back(connections[i]->client_port());
    }
    // One 256 KiB table per thread, however many clients it analyzes.
    thread_local std::vector<std::uint32_t> ending_at(65536, no_sequence);
    for (const auto& [key, destination] : destinations) {
        const std::vector<std::uint16_t>& ports = destination.ports;
        if (ports.size() < min_connections_for_sequences) continue;
        const SequencesFound found = find_sequences(ports, ending_at);
        const double share = static_cast<double>(found.covered) / ports.size();
        if (found.at_once < 2 || share < min_sequences_share) continue;
        if (found.at_once <= result.hosts_estimate) continue;
        result.likely = true;
        result.evidence = SharedEvidence::interleaved_sequences;
        result.hosts_estimate =
            static_cast<std::uint8_t>(std::min<std::uint32_t>(found.at_once, 255));
        result.destination_first = destination.first;
        result.destination_connections = static_cast<std::uint32_t>(ports.size());
        result.sequences_share = static_cast<float>(share);
    }
    if (!result.likely && random && translator_like(connections)) {
        result.likely = true;
        result.evidence = SharedEvidence::translator_ports;
    }
    return result;
}

}  // namespace ephemera
