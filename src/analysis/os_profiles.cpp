#include "ephemera/analysis/os_profiles.hpp"

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
    }
    return "unknown";
}

std::span<const RangeDefault> range_defaults() noexcept {
    return defaults;
}
std::span<const OsProfile> os_profiles() noexcept {
    return profiles;
}

const RangeDefault* find_range_default(std::string_view basis) noexcept {
    for (const RangeDefault& entry : defaults) {
        if (entry.basis == basis) return &entry;
    }
    return nullptr;
}

}  // namespace ephemera
