// Work split over the two cores gives what it gives on one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "ephemera/analysis/two_cores.hpp"

namespace ephemera {
namespace {

// Keys with many repeats, as the heuristics' sightings have; the payload tells equal keys apart.
std::vector<std::pair<std::uint32_t, std::uint32_t>> shuffled_pairs(std::size_t count) {
    std::mt19937 random(7);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> values(count);
    for (std::size_t i = 0; i < count; ++i) {
        values[i] = {static_cast<std::uint32_t>(random() % 1000), static_cast<std::uint32_t>(i)};
    }
    return values;
}

TEST(TwoCores, SortOrdersKeysAsStdSortDoes) {
    for (const std::size_t count : {std::size_t{0}, std::size_t{100}, 3 * min_elements_to_share}) {
        auto values = shuffled_pairs(count);
        auto expected = values;
        const auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
        sort_on_two_cores(values, by_key);
        std::stable_sort(expected.begin(), expected.end(), by_key);
        ASSERT_EQ(values.size(), expected.size());
        // Equal keys may come in any order: compare the keys, and the elements as sets.
        for (std::size_t i = 0; i < values.size(); ++i) {
            EXPECT_EQ(values[i].first, expected[i].first) << "at " << i << " of " << count;
        }
        std::sort(values.begin(), values.end());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(values, expected);
    }
}

TEST(TwoCores, BothHalvesRunAndEitherFailureReachesTheCaller) {
    int first = 0;
    int second = 0;
    run_on_two_cores([&] { first = 1; }, [&] { second = 2; });
    EXPECT_EQ(first + second, 3);
    EXPECT_THROW(run_on_two_cores([] { throw std::runtime_error("helper"); }, [] {}),
                 std::runtime_error);
    EXPECT_THROW(run_on_two_cores([] {}, [] { throw std::runtime_error("caller"); }),
                 std::runtime_error);
}

}  // namespace
}  // namespace ephemera
