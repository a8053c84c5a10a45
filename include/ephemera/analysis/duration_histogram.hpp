// Durations counted in logarithmic buckets, for quantiles in memory that follows how widely the
// durations spread rather than how many there are.
//
// Durations below exact_below microseconds are counted each in a bucket of its own, and read back
// exactly. Above, the buckets are DDSketch's (Masson, Rim and Lee, VLDB 2019): bucket i holds the
// durations in (g^(i-1), g^i] microseconds, g = (1 + a) / (1 - a), and reads back as
// 2 g^i / (g + 1), within a (relative) of every duration it holds. With a = 0.1%, a millisecond
// to a day takes about 9,100 buckets. No Debian package offers such a histogram in C or C++
// (HdrHistogram's C library is not packaged, and its fixed array would cost a client with three
// reuses a hundred kilobytes).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "ephemera/core/types.hpp"

namespace ephemera {

class DurationHistogram {
  public:
    // How far a quantile read back may be from the exact one, relative to it.
    static constexpr double relative_accuracy = 0.001;
    // Durations shorter than this are counted exactly: from here on a logarithmic bucket is at
    // least two microseconds wide.
    static constexpr std::int32_t exact_below = 1024;

    // Counts `duration` (0 or more microseconds).
    void add(Micros duration);

    std::uint64_t count() const noexcept { return count_; }
    // The shortest and the longest duration counted, exactly; 0 when none was.
    Micros min() const noexcept { return min_; }
    Micros max() const noexcept { return max_; }
    // The duration at `rank` (0 for the shortest, count() - 1 for the longest), within
    // relative_accuracy, and never outside [min(), max()]: durations all alike read back exactly.
    // Requires rank < count().
    double at_rank(std::uint64_t rank) const noexcept;
    // The median as statistics.hpp's median() gives it (an even count: the mean of the two middle
    // durations), within relative_accuracy; 0 when nothing was counted.
    double median() const noexcept;

    // Where a duration is counted, and what that bucket reads back as.
    static std::int32_t bucket_of(Micros duration) noexcept;
    static double value_of(std::int32_t bucket) noexcept;

  private:
    // Buckets listed while few (a client's handful of reuses), a dense array from
    // dense_first_ on once more than this many are in use.
    static constexpr std::size_t max_listed = 64;

    double bucket_at_rank(std::uint64_t rank) const noexcept;
    void make_dense();
    void add_dense(std::int32_t bucket);

    std::uint64_t count_ = 0;
    Micros min_ = 0;
    Micros max_ = 0;
    std::vector<std::pair<std::int32_t, std::uint32_t>> listed_;  // (bucket, count), by bucket
    std::vector<std::uint64_t> dense_;
    std::int32_t dense_first_ = 0;
};

}  // namespace ephemera
