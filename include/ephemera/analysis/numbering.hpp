// Small dense numbers for the addresses and endpoints an analysis groups by, so its tallies are
// arrays indexed by number and its sort keys fit in a machine word.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <vector>

#include "ephemera/core/free_memory.hpp"

namespace ephemera {

// The index is a flat open-addressing table of numbers, each slot with its key's hash: the report
// numbers every record's hosts and services, and a node-based map costs a cache miss or two per
// lookup where this costs about one.
template <typename Key, typename Hash>
class Numbering {
  public:
    // The key's number: 0 for the first key seen, 1 for the next new one, and so on.
    std::uint32_t number(const Key& key) {
        if (slots_.empty()) index_again();
        const auto hash = hash_of(key);
        Slot& slot = slots_[slot_of(key, hash)];
        if (slot.number_plus_one != 0) return slot.number_plus_one - 1;
        const auto added = static_cast<std::uint32_t>(keys_.size());
        keys_.push_back(key);
        slot = {added + 1, hash};
        if (keys_.size() * 2 > slots_.size()) grow();
        return added;
    }

    std::size_t size() const noexcept { return keys_.size(); }
    const Key& key(std::uint32_t number) const { return keys_[number]; }
    // The key's number where it has one, without numbering it; searched key by key where the
    // index was dropped.
    std::optional<std::uint32_t> find(const Key& key) const {
        if (slots_.empty()) {
            const auto found = std::find(keys_.begin(), keys_.end(), key);
            if (found == keys_.end()) return std::nullopt;
            return static_cast<std::uint32_t>(found - keys_.begin());
        }
        const Slot& slot = slots_[slot_of(key, hash_of(key))];
        if (slot.number_plus_one == 0) return std::nullopt;
        return slot.number_plus_one - 1;
    }

    // Forgets every key but keeps the memory, for numbering afresh many times over (once per
    // client of a capture's million): costs the keys it held, not a fill of the whole index.
    void clear() {
        if (!slots_.empty()) {
            // Every key's slot found before any is emptied: emptying one can cut another's probe.
            used_slots_.clear();
            for (const Key& key : keys_) used_slots_.push_back(slot_of(key, hash_of(key)));
            for (const std::size_t at : used_slots_) slots_[at] = Slot{};
        }
        keys_.clear();
    }

    // Lets go of the index (as much memory as the keys or more) where no key is to be numbered
    // for a while: key() still answers, and the next number() builds the index again first.
    void drop_index() { free_memory(slots_); }

    // Every number, ordered as their keys are.
    std::vector<std::uint32_t> in_key_order() const {
        std::vector<std::uint32_t> order(keys_.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [this](std::uint32_t a, std::uint32_t b) { return keys_[a] < keys_[b]; });
        return order;
    }

  private:
    struct Slot {
        std::uint32_t number_plus_one = 0;  // 0: empty
        std::uint32_t hash = 0;
    };

    // The table indexes by the low bits: spread the caller's hash over them.
    static std::uint64_t mix(std::uint64_t value) noexcept {
        value ^= value >> 29;
        value *= 0xbf58476d1ce4e5b9ULL;
        return value ^ (value >> 32);
    }

    static std::uint32_t hash_of(const Key& key) {
        return static_cast<std::uint32_t>(mix(Hash{}(key)));
    }

    // Where `key` (of hash `hash`) is in the index, or the empty slot where it would go.
    std::size_t slot_of(const Key& key, std::uint32_t hash) const {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
            const Slot& slot = slots_[at];
            if (slot.number_plus_one == 0) return at;
            if (slot.hash == hash && keys_[slot.number_plus_one - 1] == key) return at;
        }
    }

    // Puts `slot` in the first empty place from its hash on (its key is not in the index yet).
    void place(const Slot& slot) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t at = slot.hash & mask;
        while (slots_[at].number_plus_one != 0) at = (at + 1) & mask;
        slots_[at] = slot;
    }

    void index_again() {
        std::size_t size = 16;
        while (keys_.size() * 2 > size) size *= 2;
        slots_.assign(size, Slot{});
        for (std::size_t number = 0; number < keys_.size(); ++number) {
            place({static_cast<std::uint32_t>(number + 1), hash_of(keys_[number])});
        }
    }

    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (const Slot& slot : old) {
            if (slot.number_plus_one != 0) place(slot);
        }
    }

    std::vector<Slot> slots_ = std::vector<Slot>(16);
    std::vector<Key> keys_;
    std::vector<std::size_t> used_slots_;  // clear()'s
};

// For keys already packed into a word (host numbers with ports, protocols): Numbering mixes the
// identity hash itself.
using WordNumbering = Numbering<std::uint64_t, std::hash<std::uint64_t>>;

}  // namespace ephemera
