// A connection's activity in 32-bit fields where its values fit: how the tracker holds a closed
// connection while it lingers, and how the log (analysis/roles.hpp's ConnectionRecord) holds
// every finished one. Both name their fields alike, and these functions read and write them by
// name, so the narrowing rules exist once.
//
// Narrowed: the times after the first packet (last_seen_after; close_after, which is
// close_time - first_seen + 1, 0 for none) and the counts (packets_saturated,
// payload_bytes_saturated). A holder whose values do not all fit is `wide`: its holder keeps
// WideActivity beside it, its time fields are 0 and its counts saturated at UINT32_MAX, so
// comparisons with small numbers (sent(), state()) stay exact. The TCP evidence is copied as is.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "ephemera/track/connection.hpp"

namespace ephemera {

// What a wide holder keeps beside it, whole.
struct WideActivity {
    Micros last_seen = 0;
    Micros close_time = 0;
    std::array<std::uint64_t, 2> packets{};
    std::array<std::uint64_t, 2> payload_bytes{};
};

namespace narrow_detail {

inline constexpr std::uint64_t narrow_max = UINT32_MAX;

inline std::uint32_t saturated(std::uint64_t value) noexcept {
    return static_cast<std::uint32_t>(std::min(value, narrow_max));
}

// `later` - `first` (+ 1 where `plus_one`), if it fits a 32-bit field.
inline std::optional<std::uint32_t> after(Micros first, Micros later, bool plus_one) noexcept {
    Micros difference = 0;
    if (__builtin_sub_overflow(later, first, &difference) || difference < 0 ||
        difference + Micros{plus_one} > static_cast<Micros>(narrow_max)) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(difference + Micros{plus_one});
}

// Copies what a narrow holder and an activity hold alike, by the same names.
template <typename From, typename To>
void copy_evidence(const From& from, To& to) noexcept {
    to.syn_sequence = from.syn_sequence;
    to.syn_retransmissions = from.syn_retransmissions;
    to.protocol = from.protocol;
    to.syn_ttl = from.syn_ttl;
    to.syn_option_layout = from.syn_option_layout;
    to.syn_side = from.syn_side;
    to.syn_ack_side = from.syn_ack_side;
    to.first_fin_side = from.first_fin_side;
    to.rst_side = from.rst_side;
    to.end_reason = from.end_reason;
    to.fin_from_0 = from.fin_from_0;
    to.fin_from_1 = from.fin_from_1;
    to.stale_ack = from.stale_ack;
    to.time_wait_collision = from.time_wait_collision;
}

}  // namespace narrow_detail

// Writes `activity` into `narrow` and sets narrow.wide. Returns the values the holder must keep
// beside a wide one; nullopt where they all fit.
template <typename Narrow>
std::optional<WideActivity> store_narrow(const ConnectionActivity& activity,
                                         Narrow& narrow) noexcept {
    using namespace narrow_detail;
    narrow.first_seen = activity.first_seen;
    for (int side = 0; side < 2; ++side) {
        narrow.packets_saturated[side] = saturated(activity.packets[side]);
        narrow.payload_bytes_saturated[side] = saturated(activity.payload_bytes[side]);
    }
    copy_evidence(activity, narrow);
    const std::optional<std::uint32_t> last_seen_after =
        after(activity.first_seen, activity.last_seen, false);
    const std::optional<std::uint32_t> close_after =
        activity.close_time == 0 ? std::optional<std::uint32_t>(0)
                                 : after(activity.first_seen, activity.close_time, true);
    const auto counts_fit = [](const std::array<std::uint64_t, 2>& counts) {
        return counts[0] <= narrow_max && counts[1] <= narrow_max;
    };
    const bool fits = last_seen_after && close_after && counts_fit(activity.packets) &&
                      counts_fit(activity.payload_bytes);
    narrow.wide = !fits;
    if (fits) {
        narrow.last_seen_after = *last_seen_after;
        narrow.close_after = *close_after;
        return std::nullopt;
    }
    narrow.last_seen_after = narrow.close_after = 0;
    return WideActivity{activity.last_seen, activity.close_time, activity.packets,
                        activity.payload_bytes};
}

// The last packet's time of `narrow`; `wide` is what its holder keeps beside a wide one.
template <typename Narrow>
Micros narrow_last_seen(const Narrow& narrow, const WideActivity* wide) noexcept {
    return narrow.wide ? wide->last_seen : narrow.first_seen + narrow.last_seen_after;
}

template <typename Narrow>
Micros narrow_close_time(const Narrow& narrow, const WideActivity* wide) noexcept {
    if (narrow.wide) return wide->close_time;
    return narrow.close_after == 0 ? 0 : narrow.first_seen + (narrow.close_after - 1);
}

// The whole activity `narrow` holds, with `wide` as for narrow_last_seen.
template <typename Narrow>
ConnectionActivity load_narrow(const Narrow& narrow, const WideActivity* wide) noexcept {
    ConnectionActivity activity;
    activity.first_seen = narrow.first_seen;
    activity.last_seen = narrow_last_seen(narrow, wide);
    activity.close_time = narrow_close_time(narrow, wide);
    for (int side = 0; side < 2; ++side) {
        activity.packets[side] = narrow.wide ? wide->packets[side] : narrow.packets_saturated[side];
        activity.payload_bytes[side] =
            narrow.wide ? wide->payload_bytes[side] : narrow.payload_bytes_saturated[side];
    }
    narrow_detail::copy_evidence(narrow, activity);
    return activity;
}

}  // namespace ephemera
