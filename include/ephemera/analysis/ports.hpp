// Stage 4c: how each client host allocates, reuses and exhausts its ephemeral ports.
//
//   range        the ephemeral range it allocates from: an OS default that fits, or what the
//                ports themselves show when they cycle through fewer ports than any default has
//   allocation   the allocator's pattern (sequential, per-destination, random) with a confidence
//                from a Wilson score bound, and the operating systems that allocate that way
//   reuse        4-tuples and ports used again, and whether within TIME_WAIT
//   exhaustion   per destination, a sweep over start, close and TIME_WAIT-end events gives the
//                most ports held at once against the range
//   failures     refused and unanswered attempts
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ephemera/analysis/os_profiles.hpp"
#include "ephemera/analysis/port_set.hpp"
#include "ephemera/analysis/roles.hpp"
#include "ephemera/analysis/shared_address.hpp"

namespace ephemera {

// `unknown`: nothing could be measured (no ephemeral port was seen in use). The others follow
// the utilization thresholds; they are ordered, worst last.
enum class Verdict : std::uint8_t { unknown, ok, warning, critical, exhausted };
std::string_view verdict_name(Verdict verdict) noexcept;

// A translator's limit as --gateway gives it: its profile's, or the ports configured.
struct GatewayLimit {
    std::string_view name;  // the profile's
    std::uint32_t ports_per_destination = 0;
    double time_wait_s = 0;  // 0: the hosts' own
};

struct PortAnalysisOptions {
    std::optional<PortRange> range;                                 // --range LO-HI
    std::vector<std::pair<Address, PortRange>> client_ranges;       // --range ADDR=LO-HI
    std::optional<GatewayLimit> gateway;                            // --gateway PROFILE
    std::vector<std::pair<Address, GatewayLimit>> client_gateways;  // --gateway ADDR=PROFILE
    std::optional<double> time_wait_s;                              // --time-wait
    double warning_at = 0.5;                                        // utilization thresholds
    double critical_at = 0.8;
    double exhausted_at = 1.0;
    // Occupancy over time for the worst destinations (DestinationOccupancy::occupied_series):
    // only the HTML report draws it, so the other outputs leave it out.
    bool occupancy_series = true;
    // Whether to look for several hosts behind one address and pair both sides of translators
    // (analysis/shared_address, analysis/translation). Always on in the tool; bench/nat_cost.cpp
    // turns it off to measure what it costs.
    bool shared_addresses = true;
};

Verdict verdict_for(double utilization, const PortAnalysisOptions& options);

// What a client's range rests on, strongest first.
enum class RangeEvidence : std::uint8_t {
    configured,  // --range
    gateway,     // --gateway: a translator's limit per destination (RangeEstimate::capacity)
    cycled,      // the ports were used twice or more on average: the allocator went round them
    os_default,  // an OS default that holds every port seen (and fits the allocator, if known)
    estimated,   // no default holds the ports: their span, widened by the German tank estimate
    none,        // no ephemeral port was seen in use
};
std::string_view evidence_name(RangeEvidence evidence) noexcept;

struct RangeEstimate {
    PortRange range;
    RangeEvidence evidence = RangeEvidence::none;
    // The OS default the range is, where it is one (os_default; cycled, when the ports went round
    // one): an entry of range_defaults().
    const RangeDefault* os_default = nullptr;
    std::string_view gateway;       // with gateway: the translator profile's name
    std::uint32_t ports_seen = 0;   // distinct ephemeral ports the client used
    std::uint64_t allocations = 0;  // connections and flows that used them
    PortRange seen;                 // the lowest and highest of them
    // With os_default: every default that holds the ports seen and fits the allocator (several:
    // the capture cannot tell them apart). default_names() lists them, the chosen one first.
    TableSet fits;
    // With configured: ports seen outside the configured range (it is not this host's).
    std::uint32_t outside = 0;
    // With gateway: the connections it holds at once to one destination (the range is then the
    // translator's port space, 1024-65535).
    std::uint32_t capacity = 0;

    // The ports one destination can hold at once: the capacity with a gateway, else the range's.
    std::uint32_t limit() const noexcept { return capacity != 0 ? capacity : range.size(); }
    // What the range rests on, as the reports name it: the OS default's name (RangeDefault::basis),
    // the translator profile's, "configured", "observed" (the ports' own span), or "unknown".
    std::string_view basis_name() const noexcept;
};

// Why an allocation pattern is unknown.
enum class UnknownBecause : std::uint8_t {
    known,           // it is not
    no_connections,  // none of this protocol
    no_handshakes,   // none whose SYN the capture holds (all seen mid-stream)
    too_few,         // fewer than min_fingerprint_samples
    no_pattern,      // enough, but no pattern fits the steps between ports
};
std::string_view unknown_because_name(UnknownBecause because) noexcept;
inline constexpr std::size_t min_fingerprint_samples = 20;

struct AllocationFingerprint {
    AllocationPattern pattern = AllocationPattern::unknown;
    UnknownBecause unknown_because = UnknownBecause::no_connections;
    double confidence = 0.0;
    double even_share = 0.0;
    TableSet os_hint;           // the systems (os_profiles()) allocating this way: profile_names
    std::uint32_t samples = 0;  // connections it was judged on
    // Set when the hint was dropped because the ports fill another system's default range: the
    // systems the pattern pointed to and that range (os_hint_note says it in words).
    TableSet dropped_hint;
    const RangeDefault* dropped_for = nullptr;
};

// Why there is no hint though the pattern is known, in a sentence; "" when nothing was dropped.
std::string os_hint_note(const AllocationFingerprint& allocation);

// What a source port's reuse was: the same 4-tuple again while the earlier connection's TIME_WAIT
// still held it, the same 4-tuple after that (or after a reset), or the port towards another
// service.
enum class ReuseKind : std::uint8_t { tuple_in_time_wait, tuple_after_time_wait, other_service };

inline constexpr std::size_t reuse_kind_count = 3;

// The edges, in seconds, of the bins reuse intervals are counted in for a plot: log-spaced, with
// the TIME_WAIT `time_wait_s` and two multiples of it among them, so the plot splits there. At
// most max_interval_edges, ascending; bin k holds [edge k, edge k + 1), the last one open-ended.
inline constexpr std::size_t max_interval_edges = 12;
std::vector<double> reuse_interval_edges(double time_wait_s);

// A port reuse's interval is from the previous use's end to the new start.
struct ReuseStats {
    std::uint64_t tuple_reuses = 0;
    std::uint64_t time_wait_reuses = 0;
    std::uint64_t active_reuses = 0;
    std::uint64_t port_reuses = 0;
    std::uint64_t time_wait_collisions = 0;
    // Port reuses counted by kind (ReuseKind) and by the bin of reuse_interval_edges() (with the
    // TIME_WAIT of the client's ExhaustionStats) their interval falls in.
    std::array<std::array<std::uint32_t, max_interval_edges>, reuse_kind_count> interval_bins{};
    double min_interval_s = 0.0;     // exact
    double median_interval_s = 0.0;  // within DurationHistogram::relative_accuracy
};

struct DestinationOccupancy {
    Endpoint server;
    Protocol protocol = Protocol::tcp;
    std::uint64_t connections = 0;
    std::uint32_t peak_open = 0;
    std::uint32_t peak_occupied = 0;    // open + held in TIME_WAIT by this client
    Micros peak_at = 0;                 // when peak_occupied was first reached
    std::uint32_t occupied_at_end = 0;  // still open or in TIME_WAIT when the capture ended
    double utilization = 0.0;
    double peak_new_per_s = 0.0;         // most connections started within one second
    double sustainable_new_per_s = 0.0;  // TCP: range / TIME_WAIT; 0 for UDP (no TIME_WAIT)
    Verdict verdict = Verdict::ok;
    // Occupied ports over time (a step function), at most max_series_points points, every
    // bucket's highest value kept so the peak survives. Kept for the worst destinations only.
    std::vector<std::pair<Micros, std::uint32_t>> occupied_series;
};

inline constexpr std::size_t max_series_points = 600;
inline constexpr std::size_t destinations_with_series = 8;

struct ExhaustionStats {
    std::uint32_t peak_open_total = 0;  // TCP, all destinations at once
    std::uint32_t peak_occupied_total = 0;
    std::uint32_t udp_peak_occupied_total = 0;  // UDP flows open at once, all destinations
    double utilization = 0.0;
    Verdict verdict = Verdict::ok;
    double time_wait_s = default_time_wait_s;
    std::vector<DestinationOccupancy> destinations;  // worst first
};

struct FailureStats {
    std::uint64_t refused = 0;
    std::uint64_t unanswered = 0;
    std::uint64_t syn_retransmissions = 0;

    // Adds what `connection` failed: a record of the log or a connection of the tracker.
    template <typename Activity>
    void count(const Activity& connection) noexcept {
        const ConnectionState state = connection.state();
        refused += state == ConnectionState::refused;
        unanswered += state == ConnectionState::unanswered;
        syn_retransmissions += connection.syn_retransmissions;
    }
    FailureStats& operator+=(const FailureStats& other) noexcept {
        refused += other.refused;
        unanswered += other.unanswered;
        syn_retransmissions += other.syn_retransmissions;
        return *this;
    }
};

struct ClientPorts {
    RangeEstimate range;
    AllocationFingerprint allocation;      // TCP source ports
    AllocationFingerprint allocation_udp;  // UDP source ports
    ReuseStats reuse;
    ExhaustionStats exhaustion;
    FailureStats failures;
    SharedAddress shared;  // whether several hosts are behind the address
};

// `connections` are one client's (`client`), of `records`, oldest first. `capture_end` closes
// what is still open.
ClientPorts analyze_client_ports(const ConnectionRecords& records, const Address& client,
                                 std::span<const ConnectionRecord* const> connections,
                                 Micros capture_end, const PortAnalysisOptions& options);

// Exposed for the unit tests.
AllocationFingerprint fingerprint_allocation(
    const std::vector<const ConnectionRecord*>& connections);
// `ports`: the client port of every connection that used an ephemeral one; `hint`: the OS
// profiles the allocator points to (AllocationFingerprint::os_hint), or empty.
RangeEstimate infer_range(PortSet& ports, AllocationPattern pattern, TableSet hint);
RangeEstimate infer_range(const std::vector<std::uint16_t>& ports, AllocationPattern pattern,
                          TableSet hint);

}  // namespace ephemera
