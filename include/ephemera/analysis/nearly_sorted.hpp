// Sorting what is nearly in order already. A host's connections come from the log in the order
// they ended, which for most is the order they started; their ends, in the order they started,
// are nearly in order too. std::sort gains nothing from that: on the benchmark's capture, 1 to 3
// elements in 100 were out of place, and sorting them all cost as much as sorting shuffled ones.
#pragma once

#include <algorithm>
#include <vector>

namespace ephemera {

// std::sort's result where no two elements are equal under `less` (where some are, they may end
// in another order among themselves). The elements that are not below the largest before them
// are in order already; only the rest are sorted, then merged in.
template <typename T, typename Less>
void sort_nearly_sorted(std::vector<T>& values, const Less& less) {
    std::vector<T> in_order;
    std::vector<T> out_of_place;
    in_order.reserve(values.size());
    for (const T& value : values) {
        if (!in_order.empty() && less(value, in_order.back())) {
            out_of_place.push_back(value);
        } else {
            in_order.push_back(value);
        }
    }
    if (out_of_place.empty()) return;
    std::sort(out_of_place.begin(), out_of_place.end(), less);
    std::merge(in_order.begin(), in_order.end(), out_of_place.begin(), out_of_place.end(),
               values.begin(), less);
}

}  // namespace ephemera
