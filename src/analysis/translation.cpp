#include "ephemera/analysis/translation.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "ephemera/analysis/statistics.hpp"
#include "ephemera/core/free_memory.hpp"

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
bool same_connection(const ConnectionRecords& records, const ConnectionRecord& a,
                     const ConnectionRecord& b) {
    if (a.syn_ack_side == no_side || b.syn_ack_side == no_side) return false;
    const std::array<std::uint64_t, 2> a_bytes = records.activity(a).payload_bytes;
    const std::array<std::uint64_t, 2> b_bytes = records.activity(b).payload_bytes;
    return a_bytes[a.client_side] == b_bytes[b.client_side] &&
           a_bytes[1 - a.client_side] == b_bytes[1 - b.client_side];
}

// The bucket of the top bits that `hash` belongs in.
std::size_t bucket_of(std::uint32_t hash) noexcept {
    return hash >> (32 - TranslationCandidates::bucket_bits);
}

// One bucket's hashes (`hashes`) sorted by the lower bits, which bucket_of leaves: an LSD radix
// sort through `scratch` (as large as the largest bucket), a few bits a pass so its counts stay
// small for small buckets.
void sort_bucket(std::span<std::uint32_t> hashes, std::span<std::uint32_t> scratch) {
    constexpr int digit_bits = 7;
    constexpr std::uint32_t digit_mask = (std::uint32_t{1} << digit_bits) - 1;
    constexpr int passes = (32 - TranslationCandidates::bucket_bits + digit_bits - 1) / digit_bits;
    std::span<std::uint32_t> from = hashes;
    std::span<std::uint32_t> to = scratch.first(hashes.size());
    for (int pass = 0; pass < passes; ++pass) {
        const int shift = pass * digit_bits;
        std::array<std::uint32_t, std::size_t{1} << digit_bits> next{};
        for (const std::uint32_t hash : from) ++next[(hash >> shift) & digit_mask];
        std::uint32_t total = 0;
        for (std::uint32_t& count : next) total += std::exchange(count, total);
        for (const std::uint32_t hash : from) to[next[(hash >> shift) & digit_mask]++] = hash;
        std::swap(from, to);
    }
    if (from.data() != hashes.data()) std::copy(from.begin(), from.end(), hashes.begin());
}

// `hashes` sorted in place (`sizes`: how many fall in each bucket_of): a pass that swaps each
// into its bucket, then each bucket sorted on its own (sort_bucket). The only scratch space is a
// bucket's, not a second array as large as them all.
void sort_hashes(std::vector<std::uint32_t>& hashes,
                 const TranslationCandidates::BucketSizes& sizes) {
    constexpr std::size_t buckets = TranslationCandidates::bucket_count;
    std::array<std::size_t, buckets + 1> begin{};
    for (std::size_t b = 0; b < buckets; ++b) begin[b + 1] = begin[b] + sizes[b];
    // next[b]: the first place in bucket b not yet holding one of its hashes.
    std::array<std::size_t, buckets> next{};
    std::copy(begin.begin(), begin.end() - 1, next.begin());
    for (std::size_t b = 0; b < buckets; ++b) {
        while (next[b] < begin[b + 1]) {
            std::uint32_t& hash = hashes[next[b]];
            const std::size_t home = bucket_of(hash);
            if (home == b) {
                ++next[b];
            } else {
                std::swap(hash, hashes[next[home]++]);
            }
        }
    }
    std::vector<std::uint32_t> scratch(*std::max_element(sizes.begin(), sizes.end()));
    for (std::size_t b = 0; b < buckets; ++b) {
        sort_bucket(std::span(hashes).subspan(begin[b], sizes[b]), scratch);
    }
}

// Hashes in order, each once, found by the bucket of their top bits and then a search among
// that bucket's few: every record is looked up, and a search of the whole list (half of all
// connections where both sides of a translator are captured) cost a cache miss a step.
class SharedHashes {
  public:
    explicit SharedHashes(std::vector<std::uint32_t> sorted) : hashes_(std::move(sorted)) {
        for (const std::uint32_t hash : hashes_) ++bucket_start_[bucket_of(hash) + 1];
        std::partial_sum(bucket_start_.begin(), bucket_start_.end(), bucket_start_.begin());
    }
    std::size_t size() const noexcept { return hashes_.size(); }
    // Where `hash` is in the list, if it is.
    std::optional<std::uint32_t> place_of(std::uint32_t hash) const noexcept {
        const std::size_t bucket = bucket_of(hash);
        const auto first = hashes_.begin() + bucket_start_[bucket];
        const auto last = hashes_.begin() + bucket_start_[bucket + 1];
        const auto found = std::lower_bound(first, last, hash);
        if (found == last || *found != hash) return std::nullopt;
        return static_cast<std::uint32_t>(found - hashes_.begin());
    }

  private:
    std::vector<std::uint32_t> hashes_;
    std::array<std::uint32_t, TranslationCandidates::bucket_count + 1> bucket_start_{};
};

// The hash TranslationCandidates keys a connection by, if it is a candidate: TCP with its
// handshake whole in the capture (a SYN gave the client, and it was answered).
std::optional<std::uint32_t> candidate_hash(const ConnectionRecord& record) {
    if (record.protocol != Protocol::tcp || record.role_reason != RoleReason::syn ||
        record.syn_ack_side == no_side) {
        return std::nullopt;
    }
    const SynKey key{record.server_key(), record.syn_sequence};
    return static_cast<std::uint32_t>(SynKeyHash()(key) >> 32);
}

// Connections with the same service and initial sequence number from two client addresses,
// starting within pairing_tolerance of each other, of `candidates`: the earlier first, as found.
std::vector<Pair> candidate_pairs(const ConnectionRecords& records,
                                  const std::vector<const ConnectionRecord*>& candidates) {
    std::unordered_map<SynKey, std::vector<const ConnectionRecord*>, SynKeyHash> by_key;
    for (const ConnectionRecord* record : candidates) {
        by_key[{record->server_key(), record->syn_sequence}].push_back(record);
    }
    std::vector<Pair> pairs;
    for (auto& [key, group] : by_key) {
        if (group.size() < 2) continue;
        std::sort(group.begin(), group.end(),
                  [](const auto* a, const auto* b) { return a->first_seen < b->first_seen; });
        for (std::size_t i = 0; i + 1 < group.size(); ++i) {
            const ConnectionRecord* first = group[i];
            const ConnectionRecord* second = group[i + 1];
            if (first->client_host() == second->client_host()) continue;
            if (second->first_seen - first->first_seen > pairing_tolerance) continue;
            if (!same_connection(records, *first, *second)) continue;
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
std::uint32_t peak_open(const ConnectionRecords& records,
                        const std::vector<const ConnectionRecord*>& connections) {
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;
    for (const ConnectionRecord* record : connections) {
        spans.emplace_back(record->first_seen, records.last_seen(*record) + 1);
    }
    return most_open_at_once(spans);
}

NatMapping classify(std::vector<Pair> pairs) {
    std::size_t preserved = 0;
    for (const Pair& pair : pairs)
        preserved += pair.inside->client_port() == pair.outside->client_port();
    if (preserved >= preserving_share * pairs.size()) return NatMapping::port_preserving;
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
        return a.outside->first_seen < b.outside->first_seen;
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
        inside.peak_ports = peak_open(records, outside);
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
    hashes_.reserve(records.size());
}

void TranslationCandidates::add(const ConnectionRecord& record) {
    const std::optional<std::uint32_t> hash = candidate_hash(record);
    if (!hash) return;
    hashes_.push_back(*hash);
    ++bucket_sizes_[bucket_of(*hash)];
}

std::vector<Translation> pair_translations(const ConnectionRecords& records) {
    TranslationCandidates candidates(records);
    for (const ConnectionRecord& record : records) candidates.add(record);
    return candidates.pair();
}

std::vector<Translation> TranslationCandidates::pair() {
    const ConnectionRecords& records = records_;
    // The hashes two candidates or more share, each once, in order.
    sort_hashes(hashes_, bucket_sizes_);
    std::vector<std::uint32_t> shared_hashes;
    for (std::size_t begin = 0, end = 0; begin < hashes_.size(); begin = end) {
        end = begin + 1;
        while (end < hashes_.size() && hashes_[end] == hashes_[begin]) ++end;
        if (end - begin >= 2) shared_hashes.push_back(hashes_[begin]);
    }
    free_memory(hashes_);
    if (shared_hashes.empty()) return {};
    // Their connections found again, grouped by hash in hash order, each group in the records'
    // order (a counting sort by the hash's place among the shared ones).
    const SharedHashes shared(std::move(shared_hashes));
    std::vector<std::pair<std::uint32_t, const ConnectionRecord*>> sharing;  // (place, record)
    std::vector<std::uint32_t> group_start(shared.size() + 1, 0);
    for (const ConnectionRecord& record : records) {
        const std::optional<std::uint32_t> hash = candidate_hash(record);
        if (!hash) continue;
        if (const std::optional<std::uint32_t> place = shared.place_of(*hash)) {
            sharing.emplace_back(*place, &record);
            ++group_start[*place + 1];
        }
    }
    std::partial_sum(group_start.begin(), group_start.end(), group_start.begin());
    std::vector<const ConnectionRecord*> shared_key(sharing.size());
    for (const auto& [place, record] : sharing) shared_key[group_start[place]++] = record;
    free_memory(sharing);
    std::vector<Pair> pairs = candidate_pairs(records, shared_key);
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
        if (record.protocol != Protocol::tcp || record.role_reason != RoleReason::syn) continue;
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
