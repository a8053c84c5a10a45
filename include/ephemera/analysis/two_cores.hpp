// The analysis runs after the capture has been read, when the reading thread's core is free:
// work that splits into two independent halves runs on both cores.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <iterator>
#include <thread>
#include <vector>

namespace ephemera {

// Runs first() on a helper thread and second() on this one; rethrows what either threw once
// both are done.
template <typename First, typename Second>
void run_on_two_cores(const First& first, const Second& second) {
    std::exception_ptr failed;
    std::thread helper([&] {
        try {
            first();
        } catch (...) {
            failed = std::current_exception();
        }
    });
    try {
        second();
    } catch (...) {
        helper.join();
        throw;
    }
    helper.join();
    if (failed) std::rethrow_exception(failed);
}

// first() and second(), which touch nothing in common: on two cores when `share`, else one after
// the other on this one (for work too small to be worth a thread).
template <typename First, typename Second>
void run_on_two_cores_if(bool share, const First& first, const Second& second) {
    if (share) {
        run_on_two_cores(first, second);
        return;
    }
    first();
    second();
}

// Below this many elements a second thread costs more than it saves.
inline constexpr std::size_t min_elements_to_share = 20'000;

// std::sort, with each half sorted on its own core and the two merged. Elements that compare
// equal may end in either order, as with std::sort.
template <typename T, typename Less>
void sort_on_two_cores(std::vector<T>& values, const Less& less) {
    if (values.size() < min_elements_to_share) {
        std::sort(values.begin(), values.end(), less);
        return;
    }
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    run_on_two_cores([&] { std::sort(values.begin(), middle, less); },
                     [&] { std::sort(middle, values.end(), less); });
    std::vector<T> merged;
    merged.reserve(values.size());
    std::merge(values.begin(), middle, middle, values.end(), std::back_inserter(merged), less);
    values.swap(merged);
}

}  // namespace ephemera
