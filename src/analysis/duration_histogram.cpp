#include "ephemera/analysis/duration_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ephemera {
namespace {

const double growth =
    (1 + DurationHistogram::relative_accuracy) / (1 - DurationHistogram::relative_accuracy);
const double log_growth = std::log(growth);

// The logarithmic bucket (g^(i-1), g^i] that holds `duration`: i.
std::int32_t log_bucket(double duration) noexcept {
    return static_cast<std::int32_t>(std::ceil(std::log(duration) / log_growth));
}

// Bucket exact_below is the logarithmic one that holds exact_below.
const std::int32_t first_log_bucket = log_bucket(DurationHistogram::exact_below);

}  // namespace

std::int32_t DurationHistogram::bucket_of(Micros duration) noexcept {
    if (duration < exact_below) return static_cast<std::int32_t>(duration);
    return exact_below + log_bucket(static_cast<double>(duration)) - first_log_bucket;
}

double DurationHistogram::value_of(std::int32_t bucket) noexcept {
    if (bucket < exact_below) return bucket;
    const std::int32_t log_index = bucket - exact_below + first_log_bucket;
    return 2 * std::exp(log_index * log_growth) / (growth + 1);
}

void DurationHistogram::add(Micros duration) {
    min_ = count_ == 0 ? duration : std::min(min_, duration);
    max_ = count_ == 0 ? duration : std::max(max_, duration);
    ++count_;
    const std::int32_t bucket = bucket_of(std::max<Micros>(0, duration));
    if (!dense_.empty()) {
        add_dense(bucket);
        return;
    }
    const auto at =
        std::lower_bound(listed_.begin(), listed_.end(), bucket,
                         [](const auto& entry, std::int32_t b) { return entry.first < b; });
    if (at != listed_.end() && at->first == bucket) {
        ++at->second;
        return;
    }
    listed_.insert(at, {bucket, 1});
    if (listed_.size() > max_listed) make_dense();
}

void DurationHistogram::make_dense() {
    dense_first_ = listed_.front().first;
    dense_.assign(static_cast<std::size_t>(listed_.back().first - dense_first_) + 1, 0);
    for (const auto& [bucket, count] : listed_) dense_[bucket - dense_first_] = count;
    listed_ = {};
}

void DurationHistogram::add_dense(std::int32_t bucket) {
    if (bucket < dense_first_) {
        dense_.insert(dense_.begin(), static_cast<std::size_t>(dense_first_ - bucket), 0);
        dense_first_ = bucket;
    } else if (const auto offset = static_cast<std::size_t>(bucket - dense_first_);
               offset >= dense_.size()) {
        dense_.resize(offset + 1, 0);
    }
    ++dense_[static_cast<std::size_t>(bucket - dense_first_)];
}

double DurationHistogram::at_rank(std::uint64_t rank) const noexcept {
    return std::clamp(bucket_at_rank(rank), static_cast<double>(min_), static_cast<double>(max_));
}

double DurationHistogram::bucket_at_rank(std::uint64_t rank) const noexcept {
    std::uint64_t below = 0;
    if (dense_.empty()) {
        for (const auto& [bucket, count] : listed_) {
            below += count;
            if (rank < below) return value_of(bucket);
        }
    } else {
        for (std::size_t offset = 0; offset < dense_.size(); ++offset) {
            below += dense_[offset];
            if (rank < below) return value_of(dense_first_ + static_cast<std::int32_t>(offset));
        }
    }
    return 0;  // rank >= count(): not for callers
}

double DurationHistogram::median() const noexcept {
    if (count_ == 0) return 0;
    const std::uint64_t middle = count_ / 2;
    if (count_ % 2 == 1) return at_rank(middle);
    return (at_rank(middle - 1) + at_rank(middle)) / 2;
}

}  // namespace ephemera
