// A finding: one thing a report says first, as a typed value (analysis/findings ranks them).
#pragma once

#include <cstdint>

namespace ephemera {

enum class FindingKind : std::uint8_t {
    input_stopped,    // an input read only in part: capture.files[subject].stopped
    capture_warning,  // report.warnings[subject] (a flood, a clock step)
    empty_capture,    // no packets at all
    port_scan,        // report.scans[subject]
    translator,       // report.translations[subject]: both sides paired
    tunnels,          // what was unwrapped (capture.tunnels)
    // Of report.clients[subject]:
    destination_occupancy,      // exhaustion.destinations[detail] at warning or worse
    rate_above_sustainable,     // exhaustion.destinations[detail] opened faster than it sustains
    failed_attempts,            // refused or unanswered attempts
    time_wait_collisions,       // SYNs that met a server still in TIME_WAIT
    time_wait_reuse,            // 4-tuples reused within TIME_WAIT
    narrow_range,               // a range seen cycling, far narrower than any default
    configured_range_mismatch,  // ports seen outside the configured --range
    shared_address,             // several hosts likely behind the address
    range_doubt,                // a range estimated, or assumed where the verdict hangs on it
};

struct Finding {
    FindingKind kind;
    // Ranks the findings, highest first: 1 + utilization for an occupied destination (1 to 2),
    // fixed ranks below 1 for the others; an input read in part (100) and ports outside the
    // configured range (5) above everything, as they put the rest in doubt.
    double severity = 0;
    std::uint32_t subject = 0;  // an index, as the kind says
    std::uint32_t detail = 0;   // a destination's index, for the kinds that name one
};

}  // namespace ephemera
