// What each operating system does with ephemeral ports, from ../shared/FACTS.md: the one place
// these numbers live. Everything here is a default the command line can override.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ephemera {

enum class AllocationPattern : std::uint8_t { unknown, sequential, per_destination, random };

std::string_view pattern_name(AllocationPattern pattern) noexcept;

struct PortRange {
    std::uint16_t low = 0;
    std::uint16_t high = 0;

    std::uint32_t size() const noexcept { return high >= low ? std::uint32_t{high} - low + 1 : 0; }
    bool contains(std::uint16_t low_port, std::uint16_t high_port) const noexcept {
        return low <= low_port && high_port <= high;
    }
};

// A default ephemeral range, named as the report's range.basis names it.
struct RangeDefault {
    std::string_view basis;
    PortRange range;
};

// The defaults a range can be matched against, in no particular order.
std::span<const RangeDefault> range_defaults() noexcept;

struct OsProfile {
    std::string_view name;
    std::string_view range_basis;   // which RangeDefault it allocates from
    AllocationPattern tcp_pattern;  // connect() allocator as seen from outside
    double time_wait_s;
    bool port_unique_per_tuple;  // false: a port is unique per local address (macOS, OpenBSD)
};

std::span<const OsProfile> os_profiles() noexcept;
const RangeDefault* find_range_default(std::string_view basis) noexcept;

inline constexpr double default_time_wait_s = 60.0;  // Linux TCP_TIMEWAIT_LEN, FreeBSD, OpenBSD

}  // namespace ephemera
