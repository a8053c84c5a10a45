// The large-buffer helpers other threads use: faulting in a buffer's fresh end ahead of the
// thread that fills it, and giving back pages already emptied, change no byte anyone reads.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ephemera/core/large_buffer.hpp"

namespace ephemera {
namespace {

using Buffer = std::vector<std::uint64_t, LargeBufferAllocator<std::uint64_t>>;
constexpr std::size_t elements = (std::size_t{16} << 20) / sizeof(std::uint64_t);  // 16 MiB

TEST(LargeBuffer, SpaceAheadIsTheUnfilledEndOfAReservedBuffer) {
    Buffer buffer;
    if (!large_buffer::reserving_is_free) {
        EXPECT_TRUE(space_ahead(buffer, 100).empty()) << "a buffer that may move is not offered";
        GTEST_SKIP() << "sanitized build: buffers grow as they fill, nothing is offered";
    }
    buffer.reserve(elements);
    buffer.resize(1000, 7);
    const std::span<std::byte> ahead = space_ahead(buffer, 500);
    EXPECT_EQ(reinterpret_cast<std::uint64_t*>(ahead.data()), buffer.data() + 1000);
    EXPECT_EQ(ahead.size(), 500 * sizeof(std::uint64_t));
    // Never past the reservation, and nothing once it is full.
    EXPECT_EQ(space_ahead(buffer, elements).size(), (elements - 1000) * sizeof(std::uint64_t));
    buffer.resize(elements);
    EXPECT_TRUE(space_ahead(buffer, 1).empty());
}

TEST(LargeBuffer, PopulatingAheadChangesNoByte) {
    Buffer buffer;
    buffer.reserve(elements);
    for (std::size_t i = 0; i < elements / 2; ++i) buffer.push_back(i * 3);
    // Faulted in from the middle of a page on: the filled half keeps its values.
    large_buffer::populate(buffer.data() + elements / 4, elements / 2 * sizeof(std::uint64_t));
    const std::span<std::byte> ahead = space_ahead(buffer, elements / 2);
    large_buffer::populate(ahead.data(), ahead.size());
    for (std::size_t i = elements / 2; i < elements; ++i) buffer.push_back(i * 3);
    for (std::size_t i = 0; i < elements; ++i) ASSERT_EQ(buffer[i], i * 3) << "at " << i;
}

TEST(LargeBuffer, ReleasingGivesBackOnlyWholePagesInside) {
    Buffer buffer(elements, 5);
    // From just past the start to just before the end: the partial pages at both ends stay.
    const std::size_t first = 3;
    const std::size_t last = elements - 3;
    large_buffer::release(buffer.data() + first, (last - first) * sizeof(std::uint64_t));
    for (std::size_t i = 0; i < first; ++i) EXPECT_EQ(buffer[i], 5u);
    for (std::size_t i = last; i < elements; ++i) EXPECT_EQ(buffer[i], 5u);
    // What was given back reads as zeros (the caller promised not to read it: the test may).
    if (large_buffer::reserving_is_free) {
        EXPECT_EQ(buffer[elements / 2], 0u);
    }
}

}  // namespace
}  // namespace ephemera
