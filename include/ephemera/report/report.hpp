// Stage 5 of the pipeline: the report model -> text for people, JSON and CSV for scripts.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "ephemera/analysis/summary.hpp"

namespace ephemera {

inline constexpr const char* report_schema = "ephemera.report.v1";

struct ReportOptions {
    std::size_t top = 20;           // rows per table in the text report
    std::size_t destinations = 10;  // destinations listed per client
};

std::string render_json(const Report& report, const ReportOptions& options);
std::string render_text(const Report& report, const ReportOptions& options);
// One row per connection, oldest first, with a header line.
void write_connections_csv(std::FILE* out, const std::vector<ConnectionRecord>& records);

// Every finding as one sentence a person understands, worst first.
std::vector<std::string> findings_worst_first(const Report& report);

// One self-contained HTML file: plots of allocation, occupancy and reuse per client (Chart.js,
// embedded, with its licence). `records` are the connections build_report sorted.
std::string render_html(const Report& report, const std::vector<ConnectionRecord>& records,
                        const ReportOptions& options);

// "2026-11-22 04:26:33.912366" (UTC).
std::string format_utc(Micros time);

// Seconds since the epoch with exactly six decimals, e.g. "1763784001.000250".
std::string format_epoch(Micros time);
// "198.18.0.2:8080" or "[2001:db8::2]:8080".
std::string format_endpoint(const Endpoint& endpoint);

}  // namespace ephemera
