// `ephemera analyze`: runs the whole pipeline over capture files.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ephemera/analysis/summary.hpp"

namespace ephemera {

enum class ReportFormat : std::uint8_t { text, json, html };
std::string_view format_name(ReportFormat format) noexcept;

// Which readers take the capture files: the project's own where they apply, or libpcap alone.
enum class ReaderChoice : std::uint8_t { automatic, libpcap };

// --color: ANSI colours in the text report.
enum class ColorChoice : std::uint8_t { automatic, always, never };
// auto: on when standard output is a terminal and NO_COLOR is not set (no-color.org).
bool use_color(ColorChoice choice, const std::string& output, bool stdout_is_terminal);

// --fail-on: the verdict at which a run exits with exit_code::verdict_reached.
enum class FailOn : std::uint8_t { never, warning, critical, exhausted };

// What --connections writes.
enum class ConnectionsFormat { csv, zeek, zeek_json };

struct AnalyzeOptions {
    std::vector<std::string> inputs;  // capture files; "-" is standard input
    std::string filter;               // BPF, tcpdump syntax
    ReaderChoice reader = ReaderChoice::automatic;
    ReportFormat format = ReportFormat::text;
    bool format_given = false;    // --format was on the command line (not the default)
    std::string output;           // report file; empty or "-": stdout
    std::string connections_csv;  // one row per connection; empty: none; "-": stdout
    std::string save_state;  // --save-state: the analysis state (app/state_file.hpp); empty: none
    ConnectionsFormat connections_format = ConnectionsFormat::csv;  // --connections-format
    FailOn fail_on = FailOn::never;
    bool decapsulate = true;                // --decapsulate all|none
    bool split_segments = false;            // --split-segments
    std::vector<std::string> tunnel_ports;  // --tunnel-port KIND=PORT
    ColorChoice color = ColorChoice::automatic;
    double udp_timeout_s = 60.0;
    std::size_t top = 20;
    std::size_t destinations = 10;      // per client in the JSON report
    std::vector<std::string> ranges;    // "LO-HI" or "ADDR=LO-HI"
    std::vector<std::string> gateways;  // "[ADDR=]PROFILE[:ports=N|:pool=N]"
    double time_wait_s = 0;             // 0: from the client's OS profile
    std::string thresholds = "0.5,0.8,1.0";
    std::size_t max_connections = 262'144;  // tracker table limit
    std::uint32_t scan_ports = 100;         // distinct ports probed that make a source a scanner
    // Read and decode on a second thread while this one tracks (app/two_threads.hpp); the same
    // result either way. Not an option of the command: the fuzzer compares the two.
    bool reading_thread = true;
    // Look for several hosts behind one address (PortAnalysisOptions::shared_addresses). Not an
    // option of the command either: bench/nat_cost.cpp measures what that costs.
    bool shared_addresses = true;
};

struct AnalysisResult {
    Report report;
    // In the order connections ended; the report's clients are computed from them on demand.
    std::shared_ptr<const ConnectionRecords> records;
    // Every one of `records`, oldest first, when the options write them (--connections).
    std::vector<const ConnectionRecord*> oldest_first;
    std::vector<std::string> stderr_warnings;
};

// The analysis and tracker settings the options give. Throw UserError on a bad value.
PortAnalysisOptions port_options(const AnalyzeOptions& options);
TrackerOptions tracker_options(const AnalyzeOptions& options);
DecodeOptions decode_options(const AnalyzeOptions& options);

// The whole pipeline, capture to report model, printing nothing. Throws UserError.
AnalysisResult analyze_captures(const AnalyzeOptions& options);

// analyze_captures, then the report and CSV written where the options say. Throws UserError
// for anything the user can fix; returns the exit code otherwise (exit_code::verdict_reached
// when --fail-on's verdict was reached).
int run_analyze(const AnalyzeOptions& options);

// Settles where the report goes and in which format: the format from -o's extension when
// --format is not given, a clash between them refused, standard output used once, and HTML
// refused on a terminal. Throws UserError. `formats` are those the command writes.
void settle_output(AnalyzeOptions& options, std::initializer_list<ReportFormat> formats,
                   bool stdout_is_terminal);

// exit_code::verdict_reached when a destination of `report` reached --fail-on's verdict.
int exit_code_for(const Report& report, FailOn fail_on);

}  // namespace ephemera
