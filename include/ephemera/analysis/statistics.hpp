// The statistical tests behind the allocation fingerprint's confidence.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ephemera {

// Lower end of the 95% Wilson score interval for a proportion of `successes` in `trials`: how
// large the true share is at least, given how many observations there were. 0 when trials is 0.
double wilson_lower_bound(std::uint64_t successes, std::uint64_t trials) noexcept;

// One-sample Kolmogorov-Smirnov test of `values` against the uniform distribution over
// [low, high]: the p-value (asymptotic Kolmogorov distribution, with Stephens' small-sample
// correction). High means the values are consistent with uniform draws. Sorts `values`.
double uniform_ks_p_value(std::vector<double>& values, double low, double high);

// The most of `intervals` (each [begin, end): open from begin, closed at end) open at once.
std::uint32_t most_open_at_once(
    const std::vector<std::pair<std::int64_t, std::int64_t>>& intervals);

}  // namespace ephemera
