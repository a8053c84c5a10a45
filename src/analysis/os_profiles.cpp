#include "ephemera/analysis/os_profiles.hpp"

#include <algorithm>
#include <array>

namespace ephemera {
namespace {

constexpr std::array<RangeDefault, 6> defaults = {{
    {"linux", {32768, 60999}},    // net.ipv4.ip_local_port_range
    {"iana", {49152, 65535}},     // RFC 6335; macOS, Windows Vista and later, lwIP
    {"freebsd", {10000, 65535}},  // net.inet.ip.portrange.first/last
    {"openbsd", {1024, 49151}},
    {"solaris", {32768, 65535}},
    {"windows-xp", {1025, 5000}},
}};

// Allocator behaviour per FACTS.md; Windows' allocator and TIME_WAIT are unverified there.
constexpr std::array<OsProfile, 7> profiles = {{
    {"linux", "linux", AllocationPattern::per_destination, 60, true},
    {"macos", "iana", AllocationPattern::sequential, 30, false},
    {"windows", "iana", AllocationPattern::sequential, 120, true},
    {"freebsd", "freebsd", AllocationPattern::random, 60, true},
    {"openbsd", "openbsd", AllocationPattern::random, 60, false},
    {"solaris", "solaris", AllocationPattern::random, 60, true},
    {"windows-xp", "windows-xp", AllocationPattern::unknown, 240, true},
}};

}  // namespace

std::string_view pattern_name(AllocationPattern pattern) noexcept {
    switch (pattern) {
        case AllocationPattern::unknown:
            return "unknown";
        case AllocationPattern::sequential:
            return "sequential";
        case AllocationPattern::per_destination:
            return "per-destination";
        case AllocationPattern::random:
            return "random";
        case AllocationPattern::mixed:
            return "mixed";
    }
    return "unknown";
}

std::span<const RangeDefault> range_defaults() noexcept {
    return defaults;
}
std::span<const OsProfile> os_profiles() noexcept {
    return profiles;
}

double longest_time_wait_s() noexcept {
    double longest = 0;
    for (const OsProfile& profile : profiles) longest = std::max(longest, profile.time_wait_s);
    return longest;
}

std::string profile_names(TableSet profiles) {
    std::string names;
    for (std::size_t index = 0; index < os_profiles().size(); ++index) {
        if (!profiles.contains(index)) continue;
        if (!names.empty()) names += " or ";
        names += os_profiles()[index].name;
    }
    return names;
}

std::vector<std::string_view> default_names(TableSet defaults) {
    std::vector<const RangeDefault*> entries;
    for (std::size_t index = 0; index < range_defaults().size(); ++index) {
        if (defaults.contains(index)) entries.push_back(&range_defaults()[index]);
    }
    std::stable_sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
        return a->range.size() < b->range.size();
    });
    std::vector<std::string_view> names;
    for (const RangeDefault* entry : entries) names.push_back(entry->basis);
    return names;
}

const RangeDefault* find_range_default(std::string_view basis) noexcept {
    for (const RangeDefault& entry : defaults) {
        if (entry.basis == basis) return &entry;
    }
    return nullptr;
}

}  // namespace ephemera
