// What each operating system does with ephemeral ports, from ../shared/FACTS.md: the one place
// these numbers live. Everything here is a default the command line can override.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ephemera {

// mixed: several allocators interleaved, as hosts behind one translator show
// (analysis/shared_address.hpp).
enum class AllocationPattern : std::uint8_t { unknown, sequential, per_destination, random, mixed };

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
    std::uint8_t range_default;     // the range it allocates from: an index into range_defaults()
    AllocationPattern tcp_pattern;  // connect() allocator as seen from outside
    double time_wait_s;
    bool port_unique_per_tuple;  // false: a port is unique per local address (macOS, OpenBSD)
};

std::span<const OsProfile> os_profiles() noexcept;

// A translator's published limits (--gateway), judged against instead of an OS range: the
// connections one outside address holds at once to one destination (address, port, protocol),
// and how long a closed TCP connection keeps its port, where the translator documents it.
struct GatewayProfile {
    std::string_view name;
    std::uint32_t ports_per_destination;
    double time_wait_s;   // 0: not documented: the hosts' own TIME_WAIT counts
    bool ports_settable;  // PROFILE:ports=N (a configured allocation)
    bool pool_settable;   // PROFILE:pool=N (allocation by backend pool size)
};
std::span<const GatewayProfile> gateway_profiles() noexcept;
const GatewayProfile* find_gateway_profile(std::string_view name) noexcept;
// Azure Load Balancer's default SNAT ports per instance for a backend pool of `instances`, one
// frontend address (0 beyond the largest pool its table lists).
std::uint32_t azure_default_snat_ports(std::uint32_t instances) noexcept;

// Some entries of a table of at most eight (os_profiles(), range_defaults()), by index.
class TableSet {
  public:
    bool contains(std::size_t index) const noexcept { return (bits_ >> index & 1U) != 0; }
    void add(std::size_t index) noexcept { bits_ = static_cast<std::uint8_t>(bits_ | 1U << index); }
    void clear() noexcept { bits_ = 0; }
    bool empty() const noexcept { return bits_ == 0; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(std::popcount(bits_)); }
    // The index of the only entry, or -1 unless there is exactly one.
    int only() const noexcept { return size() == 1 ? std::countr_zero(bits_) : -1; }
    bool operator==(const TableSet&) const = default;

  private:
    std::uint8_t bits_ = 0;
};

// Operating systems (os_profiles()) as the report names them: "macos or windows"; "" for none.
std::string profile_names(TableSet profiles);
// Range defaults (range_defaults()) narrowest first, ties in table order.
std::vector<const RangeDefault*> narrowest_first(TableSet defaults);
// Their names (RangeDefault::basis), in that order.
std::vector<std::string_view> default_names(TableSet defaults);
// The first of narrowest_first(defaults), without building the list; null for none.
const RangeDefault* narrowest_default(TableSet defaults) noexcept;

inline constexpr double default_time_wait_s = 60.0;  // Linux TCP_TIMEWAIT_LEN, FreeBSD, OpenBSD
// The longest TIME_WAIT of any profile: a connection that ended longer ago than this holds no
// port on any system profiled.
double longest_time_wait_s() noexcept;

}  // namespace ephemera
