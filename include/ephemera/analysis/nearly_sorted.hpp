// Sorting what is nearly in order already. A host's connections come from the log in the order
// they ended, which for most is the order they started; their ends, in the order they started,
// are nearly in order too. std::sort gains nothing from that: on the benchmark's capture, 1 to 3
// elements in 100 were out of place, and sorting them all cost as much as sorting shuffled ones.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

namespace ephemera {

// std::sort's result where no two elements are equal under `less` (where some are, they may end
// in another order among themselves). The elements that are not below the largest before them
// are in order already: they stay in `values`, moved up to close the gaps. Only the rest are
// copied out and sorted, then merged back in from the end, where the room is.
template <typename T, typename Less>
void sort_nearly_sorted(std::vector<T>& values, const Less& less) {
    std::vector<T> out_of_place;
    std::size_t kept = 0;  // values[0, kept) are the ones in order
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (kept > 0 && less(values[i], values[kept - 1])) {
            out_of_place.push_back(std::move(values[i]));
        } else {
            if (kept != i) values[kept] = std::move(values[i]);
            ++kept;
        }
    }
    if (out_of_place.empty()) return;
    std::sort(out_of_place.begin(), out_of_place.end(), less);
    // The larger of the two last ones goes last; on a tie the out-of-place one does, as
    // std::merge puts the first range's element first.
    std::size_t in_order = kept;
    std::size_t others = out_of_place.size();
    for (std::size_t to = values.size(); others > 0;) {
        if (in_order > 0 && less(out_of_place[others - 1], values[in_order - 1])) {
            values[--to] = std::move(values[--in_order]);
        } else {
            values[--to] = std::move(out_of_place[--others]);
        }
    }
}

}  // namespace ephemera
