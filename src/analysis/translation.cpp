#include "ephemera/analysis/translation.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "ephemera/analysis/statistics.hpp"

namespace ephemera {
namespace {

// Pairs holding this share of equal inside and outside ports make a port-preserving mapping; of
// small rising steps between outside ports, a sequential one.
constexpr double preserving_share = 0.9;
constexpr double sequential_share = 0.7;
constexpr int max_sequential_step = 32;
// The widest block of outside ports one inside host may use for a port-block mapping.
constexpr std::uint32_t max_block = 4096;

struct Pair {
    const ConnectionRecord* inside;
    const ConnectionRecord* outside;
};

// A connection whose SYN the capture holds, keyed by what a translator leaves unchanged.
struct SynKey {
    std::uint64_t service;
    std::uint32_t sequence;
    bool operator==(const SynKey&) const = default;
};
struct SynKeyHash {
    // Fibonacci hashing: the high bits are well mixed (TranslationCandidates::add keeps them).
    std::size_t operator()(const SynKey& key) const noexcept {
        return (key.service ^ std::uint64_t{key.sequence} << 40 ^ key.sequence) *
               0x9e3779b97f4a7c15ULL;
    }
};

// Whether two connections can be one seen on both sides of a translator: both answered (the
// handshake crossed it both ways; crafted or unanswered SYNs with equal numbers are not pairs),
// and the same payload each way (a translator rewrites headers, not data).
bool same_connection(const ConnectionRecord& a, const ConnectionRecord& b) {
    if (a.connection.syn_ack_side == no_side || b.connection.syn_ack_side == no_side) return false;
    return a.connection.payload_bytes[a.client_side] == b.connection.payload_bytes[b.client_side] &&
           a.connection.payload_bytes[1 - a.client_side] ==
               b.connection.payload_bytes[1 - b.client_side];
}

// `keys` sorted by hash: an LSD radix sort, radix_bits a pass, with each pass's counts already
// taken as the keys were added (`counts`): three streaming passes instead of a comparison sort's
// random reads.
void sort_by_hash(std::vector<TranslationCandidates::Hashed>& keys,
                  TranslationCandidates::RadixCounts& counts) {
    constexpr std::size_t buckets = TranslationCandidates::radix_buckets;
    // Not value-initialized: every element is written before it is read.
    std::unique_ptr<TranslationCandidates::Hashed[]> scratch(
        new TranslationCandidates::Hashed[keys.size()]);
    std::span<TranslationCandidates::Hashed> from(keys), to(scratch.get(), keys.size());
    for (std::size_t pass = 0; pass < counts.size(); ++pass) {
        const int shift = static_cast<int>(pass) * TranslationCandidates::radix_bits;
        std::array<std::uint32_t, buckets>& next = counts[pass];
        std::uint32_t total = 0;
        for (std::uint32_t& count : next) total += std::exchange(count, total);
        for (const auto& key : from) to[next[(key.hash >> shift) & (buckets - 1)]++] = key;
        std::swap(from, to);
    }
    // An odd number of passes leaves them in the scratch space.
    if (from.data() != keys.data()) std::copy(from.begin(), from.end(), keys.begin());
}

// Connections with the same service and initial sequence number from two client addresses,
// starting within pairing_tolerance of each other, of `candidates`: the earlier first, as found.
std::vector<Pair> candidate_pairs(const std::vector<const ConnectionRecord*>& candidates) {
    std::unordered_map<SynKey, std::vector<const ConnectionRecord*>, SynKeyHash> by_key;
    for (const ConnectionRecord* record : candidates) {
        by_key[{record->server_key(), record->connection.syn_sequence}].push_back(record);
    }
    std::vector<Pair> pairs;
    for (auto& [key, group] : by_key) {
        if (group.size() < 2) continue;
        std::sort(group.begin(), group.end(), [](const auto* a, const auto* b) {
            return a->connection.first_seen < b->connection.first_seen;
        });
        for (std::size_t i = 0; i + 1 < group.size(); ++i) {
            const ConnectionRecord* first = group[i];
            const ConnectionRecord* second = group[i + 1];
            if (first->client_host() == second->client_host()) continue;
            if (second->connection.first_seen - first->connection.first_seen > pairing_tolerance)
                continue;
            if (!same_connection(*first, *second)) continue;
            pairs.push_back({first, second});
            ++i;  // each connection in one pair at most
        }
    }
    return pairs;
}

// Of each two addresses paired with each other, the outside one is the one later more often.
void orient(std::vector<Pair>& pairs) {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::int64_t> later_votes;  // (low, high)
    const auto key_of = [](const Pair& pair) {
        const std::uint32_t a = pair.inside->client_host();
        const std::uint32_t b = pair.outside->client_host();
        return std::make_pair(std::min(a, b), std::max(a, b));
    };
    for (const Pair& pair : pairs) {
        const auto key = key_of(pair);
        later_votes[key] += pair.outside->client_host() == key.second ? 1 : -1;
    }
    for (Pair& pair : pairs) {
        const auto key = key_of(pair);
        const std::uint32_t outside_host = later_votes[key] >= 0 ? key.second : key.first;
        if (pair.outside->client_host() != outside_host) std::swap(pair.inside, pair.outside);
    }
}

// The most of `connections` open at once, each from its first packet to its last.
std::uint32_t peak_open(const std::vector<const ConnectionRecord*>& connections) {
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;
    for (const ConnectionRecord* record : connections) {
        spans.emplace_back(record->connection.first_seen, record->connection.last_seen + 1);
    }
    return most_open_at_once(spans);
}

NatMapping classify(std::vector<Pair> pairs) {
    std::size_t preserved = 0;
    for (const Pair& pair : pairs)
        preserved += pair.inside->client_port() == pair.outside->client_port();
    if (preserved >= preserving_share * pairs.size()) return NatMapping::port_preserving;
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
        return a.outside->connection.first_seen < b.outside->connection.first_seen;
    });
    std::size_t small = 0;
    for (std::size_t i = 1; i < pairs.size(); ++i) {
        const int step = pairs[i].outside->client_port() - pairs[i - 1].outside->client_port();
        small += step >= 1 && step <= max_sequential_step;
    }
    if (pairs.size() >= 2 && small >= sequential_share * (pairs.size() - 1))
        return NatMapping::sequential;
    // Each inside host's outside ports within one narrow block, and no two blocks overlapping.
    std::map<std::uint32_t, std::pair<std::uint16_t, std::uint16_t>> spans;
    for (const Pair& pair : pairs) {
        const std::uint16_t port = pair.outside->client_port();
        auto [span, added] = spans.try_emplace(pair.inside->client_host(), port, port);
        span->second.first = std::min(span->second.first, port);
        span->second.second = std::max(span->second.second, port);
    }
    std::vector<std::pair<std::uint16_t, std::uint16_t>> blocks;
    for (const auto& [host, span] : spans) {
        if (std::uint32_t{span.second} - span.first + 1 > max_block) return NatMapping::random;
        blocks.push_back(span);
    }
    std::sort(blocks.begin(), blocks.end());
    for (std::size_t i = 1; i < blocks.size(); ++i) {
        if (blocks[i].first <= blocks[i - 1].second) return NatMapping::random;
    }
    return spans.size() >= 2 ? NatMapping::port_block : NatMapping::random;
}

Translation summarize(const ConnectionRecords& records, std::uint32_t outside_host,
                      const std::vector<Pair>& pairs, std::uint64_t outside_connections) {
    Translation translation;
    translation.outside = records.address(outside_host);
    translation.paired = pairs.size();
    translation.unpaired = outside_connections - pairs.size();
    translation.mapping = classify(pairs);
    std::map<std::uint32_t, std::vector<const ConnectionRecord*>> by_inside;
    std::set<std::uint16_t> all_ports;
    const ConnectionRecord* first = &records[0];
    for (const Pair& pair : pairs) {
        by_inside[pair.inside->client_host()].push_back(pair.outside);
        all_ports.insert(pair.outside->client_port());
        translation.pairs.emplace_back(static_cast<std::uint32_t>(pair.outside - first),
                                       static_cast<std::uint32_t>(pair.inside - first));
    }
    std::sort(translation.pairs.begin(), translation.pairs.end());
    for (const auto& [host, outside] : by_inside) {
        InsideHost inside;
        inside.address = records.address(host);
        inside.connections = outside.size();
        inside.peak_ports = peak_open(outside);
        std::set<std::uint16_t> ports;
        for (const ConnectionRecord* record : outside) ports.insert(record->client_port());
        inside.port_share = static_cast<double>(ports.size()) / all_ports.size();
        translation.inside_hosts.push_back(inside);
    }
    std::stable_sort(translation.inside_hosts.begin(), translation.inside_hosts.end(),
                     [](const InsideHost& a, const InsideHost& b) {
                         if (a.connections != b.connections) return a.connections > b.connections;
                         return a.address < b.address;
                     });
    return translation;
}

}  // namespace

std::string_view mapping_name(NatMapping mapping) noexcept {
    switch (mapping) {
        case NatMapping::port_preserving:
            return "port-preserving";
        case NatMapping::sequential:
            return "sequential";
        case NatMapping::port_block:
            return "port-block";
        case NatMapping::random:
            return "random";
    }
    return "random";
}

TranslationCandidates::TranslationCandidates(const ConnectionRecords& records) : records_(records) {
    // At its final size at once: fresh memory is slow to come by on a virtual machine, and a
    // growing vector takes it three times over.
    pairable_.reserve(records.size());
}

void TranslationCandidates::add(const ConnectionRecord& record) {
    if (record.connection.protocol != Protocol::tcp || record.role_reason != RoleReason::syn ||
        record.connection.syn_ack_side == no_side) {
        return;
    }
    const SynKey key{record.server_key(), record.connection.syn_sequence};
    const auto hash = static_cast<std::uint32_t>(SynKeyHash()(key) >> 32);
    pairable_.push_back({hash, static_cast<std::uint32_t>(&record - &records_[0])});
    for (std::size_t pass = 0; pass < counts_.size(); ++pass) {
        ++counts_[pass][(hash >> (pass * radix_bits)) & (radix_buckets - 1)];
    }
}

std::vector<Translation> pair_translations(const ConnectionRecords& records) {
    TranslationCandidates candidates(records);
    for (const ConnectionRecord& record : records) candidates.add(record);
    return candidates.pair();
}

std::vector<Translation> TranslationCandidates::pair() {
    const ConnectionRecords& records = records_;
    sort_by_hash(pairable_, counts_);
    std::vector<const ConnectionRecord*> shared_key;
    for (std::size_t begin = 0, end = 0; begin < pairable_.size(); begin = end) {
        end = begin + 1;
        while (end < pairable_.size() && pairable_[end].hash == pairable_[begin].hash) ++end;
        if (end - begin < 2) continue;
        for (std::size_t i = begin; i < end; ++i)
            shared_key.push_back(&records[pairable_[i].index]);
    }
    pairable_ = {};
    std::vector<Pair> pairs = candidate_pairs(shared_key);
    if (pairs.empty()) return {};
    orient(pairs);
    std::map<Address, std::pair<std::uint32_t, std::vector<Pair>>> by_outside;
    for (const Pair& pair : pairs) {
        auto& entry = by_outside[records.address(pair.outside->client_host())];
        entry.first = pair.outside->client_host();
        entry.second.push_back(pair);
    }
    std::unordered_map<std::uint32_t, std::uint64_t> syn_connections;  // by outside host
    for (const auto& [address, entry] : by_outside) syn_connections[entry.first] = 0;
    for (const ConnectionRecord& record : records) {
        if (record.connection.protocol != Protocol::tcp || record.role_reason != RoleReason::syn)
            continue;
        if (auto found = syn_connections.find(record.client_host()); found != syn_connections.end())
            ++found->second;
    }
    std::vector<Translation> translations;
    for (const auto& [address, entry] : by_outside) {
        translations.push_back(
            summarize(records, entry.first, entry.second, syn_connections[entry.first]));
    }
    return translations;
}

}  // namespace ephemera
