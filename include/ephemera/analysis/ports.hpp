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

#include <optional>
#include <string>
#include <vector>

#include "ephemera/analysis/os_profiles.hpp"
#include "ephemera/analysis/roles.hpp"

namespace ephemera {

enum class Verdict : std::uint8_t { ok, warning, critical, exhausted };
std::string_view verdict_name(Verdict verdict) noexcept;

struct PortAnalysisOptions {
    std::optional<PortRange> range;                            // --range LO-HI
    std::vector<std::pair<Address, PortRange>> client_ranges;  // --range ADDR=LO-HI
    std::optional<double> time_wait_s;                         // --time-wait
    double warning_at = 0.5;                                   // utilization thresholds
    double critical_at = 0.8;
    double exhausted_at = 1.0;
    // Occupancy over time for the worst destinations (DestinationOccupancy::occupied_series):
    // only the HTML report draws it, so the other outputs leave it out.
    bool occupancy_series = true;
};

Verdict verdict_for(double utilization, const PortAnalysisOptions& options);

struct RangeEstimate {
    PortRange range;
    std::string basis;  // a RangeDefault's basis, "observed" or "configured"
};

struct AllocationFingerprint {
    AllocationPattern pattern = AllocationPattern::unknown;
    double confidence = 0.0;
    double even_share = 0.0;
    std::string os_hint;
    std::uint32_t samples = 0;  // connections it was judged on
};

struct ReuseStats {
    std::uint64_t tuple_reuses = 0;
    std::uint64_t time_wait_reuses = 0;
    std::uint64_t active_reuses = 0;
    std::uint64_t port_reuses = 0;
    std::uint64_t time_wait_collisions = 0;
    std::vector<double> port_reuse_intervals_s;  // previous use's end to the new start
    double min_interval_s = 0.0;
    double median_interval_s = 0.0;
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
    double peak_new_per_s = 0.0;  // most connections started within one second
    double sustainable_new_per_s = 0.0;
    Verdict verdict = Verdict::ok;
    // Occupied ports over time (a step function), at most max_series_points points, every
    // bucket's highest value kept so the peak survives. Kept for the worst destinations only.
    std::vector<std::pair<Micros, std::uint32_t>> occupied_series;
};

inline constexpr std::size_t max_series_points = 600;
inline constexpr std::size_t destinations_with_series = 8;

struct ExhaustionStats {
    std::uint32_t peak_open_total = 0;
    std::uint32_t peak_occupied_total = 0;
    double utilization = 0.0;
    Verdict verdict = Verdict::ok;
    double time_wait_s = default_time_wait_s;
    std::vector<DestinationOccupancy> destinations;  // worst first
};

struct FailureStats {
    std::uint64_t refused = 0;
    std::uint64_t unanswered = 0;
    std::uint64_t syn_retransmissions = 0;
};

struct ClientPorts {
    RangeEstimate range;
    AllocationFingerprint allocation;      // TCP source ports
    AllocationFingerprint allocation_udp;  // UDP source ports
    ReuseStats reuse;
    ExhaustionStats exhaustion;
    FailureStats failures;
};

// `connections` are one client's (`client`), of `records`, oldest first. `capture_end` closes
// what is still open.
ClientPorts analyze_client_ports(const ConnectionRecords& records, const Address& client,
                                 const std::vector<const ConnectionRecord*>& connections,
                                 Micros capture_end, const PortAnalysisOptions& options);

// Exposed for the unit tests.
AllocationFingerprint fingerprint_allocation(
    const std::vector<const ConnectionRecord*>& connections);
RangeEstimate infer_range(std::vector<std::uint16_t> ports, std::uint64_t allocations,
                          AllocationPattern pattern);

}  // namespace ephemera
