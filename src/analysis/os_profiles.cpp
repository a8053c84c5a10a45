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

// Positions in `defaults`, for the profiles to name their range by.
enum DefaultIndex : std::uint8_t {
    linux_ports,
    iana_ports,
    freebsd_ports,
    openbsd_ports,
    solaris_ports,
    windows_xp_ports
};

// Allocator behaviour per FACTS.md; Windows' allocator and TIME_WAIT are unverified there.
constexpr std::array<OsProfile, 7> profiles = {{
    {"linux", linux_ports, AllocationPattern::per_destination, 60, true},
    {"macos", iana_ports, AllocationPattern::sequential, 30, false},
    {"windows", iana_ports, AllocationPattern::sequential, 120, true},
    {"freebsd", freebsd_ports, AllocationPattern::random, 60, true},
    {"openbsd", openbsd_ports, AllocationPattern::random, 60, false},
    {"solaris", solaris_ports, AllocationPattern::random, 60, true},
    {"windows-xp", windows_xp_ports, AllocationPattern::unknown, 240, true},
}};
static_assert(defaults[linux_ports].basis == "linux" && defaults[iana_ports].basis == "iana" &&
                  defaults[freebsd_ports].basis == "freebsd" &&
                  defaults[openbsd_ports].basis == "openbsd" &&
                  defaults[solaris_ports].basis == "solaris" &&
                  defaults[windows_xp_ports].basis == "windows-xp",
              "DefaultIndex names the entries of `defaults` in order");

// The translators' limits, each from its own documentation:
//   aws-nat           AWS VPC User Guide, "NAT gateway basics": up to 55,000 simultaneous
//                     connections to each unique destination (address, port, protocol).
//   azure-lb          Azure Load Balancer, "Source Network Address Translation (SNAT) for outbound
//                     connections", default port allocation table: 1,024 SNAT ports per instance
//                     for pools of up to 50, halving as the pool doubles; outbound rules set it.
//   azure-nat         Azure NAT Gateway, "SNAT with Azure NAT Gateway": 64,512 SNAT ports per
//                     public address, reusable towards different destinations.
//   gcp-cloud-nat     Google Cloud NAT, "Ports and port allocation": min_ports_per_vm defaults
//                     to 64, a port per concurrent connection to one destination address, port and
//                     protocol; "NAT timeouts": TCP TIME_WAIT 120 s.
//   linux-masquerade  nf_nat maps a source port of 1024 or more within 1024-65535 (64,512
//                     ports); nf_conntrack_tcp_timeout_time_wait is 120 s.
constexpr std::array<GatewayProfile, 5> gateways = {{
    {"aws-nat", 55000, 0, false, false},
    {"azure-lb", 1024, 0, true, true},
    {"azure-nat", 64512, 0, false, false},
    {"gcp-cloud-nat", 64, 120, true, false},
    {"linux-masquerade", 64512, 120, false, false},
}};

// Azure's default allocation: the largest pool of each row and its ports per instance.
constexpr std::array<std::pair<std::uint32_t, std::uint32_t>, 6> azure_default_allocation = {{
    {50, 1024},
    {100, 512},
    {200, 256},
    {400, 128},
    {800, 64},
    {1000, 32},
}};

}  // namespace

std::span<const GatewayProfile> gateway_profiles() noexcept {
    return gateways;
}

const GatewayProfile* find_gateway_profile(std::string_view name) noexcept {
    for (const GatewayProfile& profile : gateways) {
        if (profile.name == name) return &profile;
    }
    return nullptr;
}

std::uint32_t azure_default_snat_ports(std::uint32_t instances) noexcept {
    for (const auto& [largest_pool, ports] : azure_default_allocation) {
        if (instances <= largest_pool) return ports;
    }
    return 0;
}

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

std::vector<const RangeDefault*> narrowest_first(TableSet defaults) {
    std::vector<const RangeDefault*> entries;
    entries.reserve(range_defaults().size());  // one allocation: every report calls this per client
    for (std::size_t index = 0; index < range_defaults().size(); ++index) {
        if (defaults.contains(index)) entries.push_back(&range_defaults()[index]);
    }
    // Equal sizes in table order (entries point into one table), as a stable sort would leave
    // them, without the buffer std::stable_sort allocates.
    std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
        if (a->range.size() != b->range.size()) return a->range.size() < b->range.size();
        return a < b;
    });
    return entries;
}

std::vector<std::string_view> default_names(TableSet defaults) {
    const std::vector<const RangeDefault*> entries = narrowest_first(defaults);
    std::vector<std::string_view> names;
    names.reserve(entries.size());
    for (const RangeDefault* entry : entries) names.push_back(entry->basis);
    return names;
}

const RangeDefault* narrowest_default(TableSet defaults) noexcept {
    const RangeDefault* narrowest = nullptr;
    for (std::size_t index = 0; index < range_defaults().size(); ++index) {
        const RangeDefault& entry = range_defaults()[index];
        if (defaults.contains(index) &&
            (narrowest == nullptr || entry.range.size() < narrowest->range.size())) {
            narrowest = &entry;
        }
    }
    return narrowest;
}

}  // namespace ephemera
