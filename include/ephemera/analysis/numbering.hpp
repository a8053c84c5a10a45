// Small dense numbers for the addresses and endpoints an analysis groups by, so its tallies are
// arrays indexed by number and its sort keys fit in a machine word.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace ephemera {

template <typename Key, typename Hash>
class Numbering {
  public:
    // The key's number: 0 for the first key seen, 1 for the next new one, and so on.
    std::uint32_t number(const Key& key) {
        const auto [at, added] =
            numbers_.try_emplace(key, static_cast<std::uint32_t>(keys_.size()));
        if (added) keys_.push_back(key);
        return at->second;
    }

    std::size_t size() const noexcept { return keys_.size(); }
    const Key& key(std::uint32_t number) const { return keys_[number]; }

    // Every number, ordered as their keys are.
    std::vector<std::uint32_t> in_key_order() const {
        std::vector<std::uint32_t> order(keys_.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [this](std::uint32_t a, std::uint32_t b) { return keys_[a] < keys_[b]; });
        return order;
    }

  private:
    std::unordered_map<Key, std::uint32_t, Hash> numbers_;
    std::vector<Key> keys_;
};

}  // namespace ephemera
