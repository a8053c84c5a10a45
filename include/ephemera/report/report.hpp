// Stage 5 of the pipeline: the report model -> text for people, JSON and CSV for scripts.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "ephemera/analysis/findings.hpp"
#include "ephemera/analysis/live_monitor.hpp"
#include "ephemera/analysis/summary.hpp"

namespace ephemera {

inline constexpr const char* report_schema = "ephemera.report.v2";

struct ReportOptions {
    std::size_t top = 20;           // rows per table in the text report
    std::size_t destinations = 10;  // destinations listed per client
    bool color = false;             // ANSI colours for verdicts and findings (text only)
};

// "unknown: 12 SYNs < 20", "per-destination (0.80)": a client's allocation in a few words, with
// why it is unknown where it is.
std::string allocation_words(const AllocationFingerprint& allocation);
// What points to several hosts behind a client's address, in a sentence ("" when nothing does),
// and why their number cannot be told where it cannot ("" where it can, or nothing points to
// several).
std::string shared_evidence_words(const ClientPorts& use);
std::string shared_unknown_words(const SharedAddress& shared);
// The SYN fingerprints that point to several hosts, in a sentence.
std::string fingerprint_words(const SharedAddress& shared);
// What a client's range rests on, in one sentence for a finding, or "" when there is no doubt
// worth one (range_in_doubt, analysis/findings.hpp).
std::string range_doubt(const std::string& address, const RangeEstimate& range,
                        std::uint32_t peak_occupied, double alarming);

// The JSON report, written as it is built: one client's entry at a time, never the whole
// document in memory. render_json gives the same text as a string.
void write_json(std::FILE* out, const Report& report, const ReportOptions& options);
std::string render_json(const Report& report, const ReportOptions& options);
// The same on one line (live's final report among its JSON lines).
std::string render_json_line(const Report& report, const ReportOptions& options);

// What the live capture itself reports at each interval.
struct LiveHealth {
    std::string interface;
    std::uint64_t packets = 0;
    double packets_per_s = 0.0;
    std::uint64_t kernel_drops = 0;
    std::uint64_t interface_drops = 0;
    double alert_at = 0.8;
};

// `ephemera live`, every interval: the window's report as one JSON line, with a "live" object
// of what is happening now.
std::string render_live_json(const LiveSnapshot& snapshot, const LiveHealth& health,
                             const ReportOptions& options);
// The same as a screen for a terminal: capture health, the destinations closest to exhaustion,
// the busiest clients. No cursor control: the caller clears the screen.
std::string render_live_screen(const LiveSnapshot& snapshot, const LiveHealth& health,
                               const ReportOptions& options);
// One line for stderr when a destination crosses the alert threshold or falls back.
std::string render_alert(const AlertChange& change, double alert_at);
// The Prometheus text exposition format (version 0.0.4), with at most `top` destinations.
std::string render_prometheus(const LiveSnapshot& snapshot, const LiveHealth& health,
                              std::size_t top);
std::string render_text(const Report& report, const ReportOptions& options);
// One row for each of `connections` (of `records`), in their order, with a header line; with
// --split-segments (capture.split_segments) a column names each row's segment; where the capture
// holds both sides of a translator (`translations`), two last columns name the inside address and
// port of each outside connection paired with its inside one.
void write_connections_csv(std::FILE* out, const ConnectionRecords& records,
                           std::span<const ConnectionRecord* const> connections,
                           const CaptureSummary& capture,
                           const std::vector<Translation>& translations);
// The same connections as a Zeek conn.log: Zeek's ASCII format (header lines, then one row per
// connection, the originator being the client, ephemera's own fields as extension fields) or,
// with json_lines, LogAscii::use_json's JSON lines. uids are derived from each connection, so the
// same capture gives the same uids.
void write_connections_zeek(std::FILE* out, const ConnectionRecords& records,
                            std::span<const ConnectionRecord* const> connections,
                            const CaptureSummary& capture, bool json_lines);

// What the text and HTML reports say when there is no finding.
inline constexpr const char* nothing_to_report =
    "nothing to report: no service reached the warning threshold, no attempt failed";

// A finding (analysis/findings.hpp) as one sentence a person understands.
std::string finding_words(const Report& report, const Finding& finding);
// Every finding of the report in words, worst first (rank_findings' order).
std::vector<std::string> finding_sentences(const Report& report);

// One self-contained HTML file: plots of allocation, occupancy and reuse per client (Chart.js,
// embedded, with its licence).
std::string render_html(const Report& report, const ConnectionRecords& records,
                        const ReportOptions& options);

// "2026-11-22 04:26:33.912366" (UTC).
std::string format_utc(Micros time);

// "198.18.0.2:8080" or "[2001:db8::2]:8080".
std::string format_endpoint(const Endpoint& endpoint);

}  // namespace ephemera
