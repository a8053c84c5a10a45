// Numbering: dense numbers in order of first appearance, kept through the index's growth.
#include <gtest/gtest.h>

#include "test_endpoints.hpp"

#include <cstdint>
#include <vector>

#include "ephemera/analysis/numbering.hpp"
#include "ephemera/core/types.hpp"

namespace ephemera {
namespace {

using test::endpoint;

TEST(Numbering, NumbersKeysInOrderOfFirstAppearanceThroughGrowth) {
    Numbering<Endpoint, EndpointHash> numbering;
    // Far more keys than the index starts with, each asked for twice, the second time in reverse.
    constexpr std::uint16_t keys = 5000;
    for (std::uint16_t i = 0; i < keys; ++i) {
        ASSERT_EQ(numbering.number(endpoint(static_cast<std::uint8_t>(i % 7), 10000 + i)), i);
    }
    for (std::uint16_t i = keys; i-- > 0;) {
        ASSERT_EQ(numbering.number(endpoint(static_cast<std::uint8_t>(i % 7), 10000 + i)), i);
    }
    ASSERT_EQ(numbering.size(), keys);
    EXPECT_EQ(numbering.key(42), endpoint(42 % 7, 10042));
}

// Once the index is dropped (a capture read to its end), keys still answer, and numbering again
// finds the same numbers for known keys and the next ones for new keys.
TEST(Numbering, KeysOutliveTheIndexAndNumberingBuildsItAgain) {
    Numbering<Endpoint, EndpointHash> numbering;
    constexpr std::uint16_t keys = 3000;
    for (std::uint16_t i = 0; i < keys; ++i) numbering.number(endpoint(1, 10000 + i));
    numbering.drop_index();
    ASSERT_EQ(numbering.size(), keys);
    EXPECT_EQ(numbering.key(2999), endpoint(1, 12999));
    EXPECT_EQ(numbering.number(endpoint(1, 10007)), 7u);
    EXPECT_EQ(numbering.number(endpoint(2, 80)), keys);
    for (std::uint16_t i = 0; i < keys; ++i) {
        ASSERT_EQ(numbering.number(endpoint(1, 10000 + i)), i);
    }
    EXPECT_EQ(numbering.size(), keys + 1u);
}

TEST(Numbering, InKeyOrderSortsNumbersByTheirKeys) {
    Numbering<Endpoint, EndpointHash> numbering;
    numbering.number(endpoint(3, 80));
    numbering.number(endpoint(1, 443));
    numbering.number(endpoint(2, 22));
    numbering.number(endpoint(1, 443));
    EXPECT_EQ(numbering.in_key_order(), (std::vector<std::uint32_t>{1, 2, 0}));
}

}  // namespace
}  // namespace ephemera
