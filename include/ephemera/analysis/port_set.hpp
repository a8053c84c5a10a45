// The distinct ports a host used, or a service was reached from, gathered one connection at a
// time: a list while it is short, then a bitmap of the port space, so a set costs at most 8 KiB
// however many connections add to it.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "ephemera/core/free_memory.hpp"

namespace ephemera {

class PortSet {
  public:
    void add(std::uint16_t port) {
        ++added_;
        if (bitmap_) {
            mark(port);
            return;
        }
        listed_.push_back(port);
        if (listed_.size() < bitmap_from) return;
        bitmap_ = std::make_unique<Bitmap>();
        for (const std::uint16_t listed : listed_) mark(listed);
        free_memory(listed_);
    }

    // Ports added, repeats included.
    std::uint64_t added() const noexcept { return added_; }
    std::uint32_t distinct() {
        if (bitmap_) {
            std::uint32_t count = 0;
            for (const std::uint64_t word : *bitmap_) count += std::popcount(word);
            return count;
        }
        sort_listed();
        return static_cast<std::uint32_t>(listed_.size());
    }
    // The distinct ports, lowest first, into `into` (replacing what it held).
    void in_order(std::vector<std::uint16_t>& into) {
        into.clear();
        if (!bitmap_) {
            sort_listed();
            into.assign(listed_.begin(), listed_.end());
            return;
        }
        for (std::size_t word = 0; word < bitmap_->size(); ++word) {
            for (std::uint64_t bits = (*bitmap_)[word]; bits != 0; bits &= bits - 1) {
                into.push_back(static_cast<std::uint16_t>(word * 64 + std::countr_zero(bits)));
            }
        }
    }
    // Empties the set, keeping the list's memory for the next use.
    void clear() {
        listed_.clear();
        bitmap_.reset();
        added_ = 0;
    }

  private:
    using Bitmap = std::array<std::uint64_t, 65536 / 64>;   // a bit per port
    static constexpr std::size_t bitmap_from = 65536 / 16;  // as many bytes as the bitmap

    void mark(std::uint16_t port) { (*bitmap_)[port / 64] |= std::uint64_t{1} << (port % 64); }

    void sort_listed() {
        std::sort(listed_.begin(), listed_.end());
        listed_.erase(std::unique(listed_.begin(), listed_.end()), listed_.end());
    }

    std::vector<std::uint16_t> listed_;  // repeats included until sorted
    std::unique_ptr<Bitmap> bitmap_;     // zeroed by make_unique
    std::uint64_t added_ = 0;
};

}  // namespace ephemera
