#include "ephemera/analysis/statistics.hpp"

#include <algorithm>
#include <cmath>

namespace ephemera {

double wilson_lower_bound(std::uint64_t successes, std::uint64_t trials) noexcept {
    if (trials == 0) return 0.0;
    constexpr double z = 1.959963984540054;  // 95%, two-sided
    const double n = static_cast<double>(trials);
    const double p = static_cast<double>(successes) / n;
    const double z2 = z * z;
    const double centre = p + z2 / (2 * n);
    const double margin = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    return std::max(0.0, (centre - margin) / (1 + z2 / n));
}

double uniform_ks_p_value(std::vector<double>& values, double low, double high) {
    if (values.empty() || high <= low) return 0.0;
    std::sort(values.begin(), values.end());
    const double n = static_cast<double>(values.size());
    double statistic = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double cdf = std::clamp((values[i] - low) / (high - low), 0.0, 1.0);
        statistic = std::max({statistic, (i + 1) / n - cdf, cdf - i / n});
    }
    const double root_n = std::sqrt(n);
    const double lambda = (root_n + 0.12 + 0.11 / root_n) * statistic;
    if (lambda < 0.3) return 1.0;  // the series converges slowly there, and Q_KS(0.3) > 0.9999
    // Q_KS(lambda) = 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2)
    double sum = 0.0;
    for (int k = 1; k <= 100; ++k) {
        const double term = std::exp(-2.0 * k * k * lambda * lambda);
        sum += (k % 2 == 1 ? 2.0 : -2.0) * term;
        if (term < 1e-12) break;
    }
    return std::clamp(sum, 0.0, 1.0);
}

std::uint32_t most_open_at_once(
    const std::vector<std::pair<std::int64_t, std::int64_t>>& intervals) {
    // Each bound once, as (time, +1 for a begin, -1 for an end): sorted, an end comes before a
    // begin at the same time, as [begin, end) wants.
    std::vector<std::pair<std::int64_t, int>> bounds;
    bounds.reserve(2 * intervals.size());
    for (const auto& [begin, end] : intervals) {
        bounds.emplace_back(begin, 1);
        bounds.emplace_back(end, -1);
    }
    std::sort(bounds.begin(), bounds.end());
    int open = 0;
    int most = 0;
    for (const auto& [time, change] : bounds) most = std::max(most, open += change);
    return static_cast<std::uint32_t>(most);
}

}  // namespace ephemera
