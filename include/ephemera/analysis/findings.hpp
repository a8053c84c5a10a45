// Stage 4f: what a report says first, as typed values ranked worst first. Which findings there are
// and how they rank is the analysis's; report/ only puts each in words (report.hpp's
// finding_sentences), so the text and HTML reports say the same things in the same order.
#pragma once

#include <cstdint>
#include <vector>

#include "ephemera/analysis/summary.hpp"

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

// Every finding of `report`, worst first; equal ones in this order: tunnels, translators, each
// client's in the report's order of clients, inputs, warnings, scans, an empty capture.
std::vector<Finding> rank_findings(const Report& report);

// Whether a client's range is worth a finding of its own: it was estimated (no default holds the
// ports), or it is an OS default the ports fill little of (each used about once, too few to tell
// a narrowed range) and, were their span the whole range, `peak_occupied` would reach `alarming`
// of it.
bool range_in_doubt(const RangeEstimate& range, std::uint32_t peak_occupied, double alarming);

}  // namespace ephemera
