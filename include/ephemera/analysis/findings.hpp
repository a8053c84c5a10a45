// Stage 4f: what a report says first, as typed values ranked worst first. Which findings there are
// and how they rank is the analysis's; report/ only puts each in words (report.hpp's
// finding_sentences), so the text and HTML reports say the same things in the same order.
#pragma once

#include <cstdint>
#include <vector>

#include "ephemera/analysis/summary.hpp"

namespace ephemera {

// Every finding of `report`, worst first; equal ones in this order: tunnels, translators, each
// client's in the report's order of clients, inputs, warnings, scans, an empty capture.
std::vector<Finding> rank_findings(const Report& report);

// Appends the findings about one client, `subject` in the report's order of clients, in the order
// rank_findings gives those of equal severity.
void add_client_findings(std::vector<Finding>& findings, const ClientSummary& client,
                         std::uint32_t subject, double critical_at);

// Whether a client's range is worth a finding of its own: it was estimated (no default holds the
// ports), or it is an OS default the ports fill little of (each used about once, too few to tell
// a narrowed range) and, were their span the whole range, `peak_occupied` would reach `alarming`
// of it.
bool range_in_doubt(const RangeEstimate& range, std::uint32_t peak_occupied, double alarming);

}  // namespace ephemera
