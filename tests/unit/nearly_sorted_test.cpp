// sort_nearly_sorted must give exactly std::sort's order, whatever order it is given: nearly
// sorted (its purpose), sorted, reversed or shuffled.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "ephemera/analysis/nearly_sorted.hpp"

namespace ephemera {
namespace {

using Keyed = std::pair<std::int64_t, std::uint32_t>;  // a time and a unique index, as sorted

void expect_sorted_as_std_sort(std::vector<Keyed> values) {
    std::vector<Keyed> expected = values;
    std::sort(expected.begin(), expected.end());
    sort_nearly_sorted(values, std::less<>());
    EXPECT_EQ(values, expected);
}

// Times one apart, with equal times among them (the index tells those apart).
std::vector<Keyed> in_order(std::size_t count) {
    std::vector<Keyed> values;
    for (std::uint32_t i = 0; i < count; ++i) values.emplace_back(i / 3, i);
    return values;
}

TEST(NearlySorted, SortsWhatIsNearlyInOrder) {
    std::mt19937 random(7);
    std::vector<Keyed> values = in_order(5000);
    // Every 50th element moved far back or forth, and neighbours swapped here and there.
    for (std::size_t i = 0; i < values.size(); i += 50) {
        std::swap(values[i], values[random() % values.size()]);
    }
    for (std::size_t i = 1; i < values.size(); i += 37) std::swap(values[i - 1], values[i]);
    expect_sorted_as_std_sort(values);
}

TEST(NearlySorted, SortsAnyOrder) {
    std::vector<Keyed> values = in_order(3000);
    expect_sorted_as_std_sort(values);
    std::reverse(values.begin(), values.end());
    expect_sorted_as_std_sort(values);
    std::shuffle(values.begin(), values.end(), std::mt19937(11));
    expect_sorted_as_std_sort(values);
    // Sorted ones with the rest appended after them, as the flows still open at the end join
    // the log after the closed ones.
    std::vector<Keyed> appended = in_order(3000);
    std::shuffle(appended.begin() + 2000, appended.end(), std::mt19937(13));
    expect_sorted_as_std_sort(appended);
    expect_sorted_as_std_sort({});
    expect_sorted_as_std_sort({{5, 0}});
}

}  // namespace
}  // namespace ephemera
