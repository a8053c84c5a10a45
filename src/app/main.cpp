// Entry point: parses the command line and is the one place where errors become messages and
// exit codes (see README, "Exit codes").
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <exception>

#include "ephemera/app/analyze.hpp"
#include "ephemera/app/live.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/version.hpp"

namespace {

// The analysis settings `analyze` and `live` share.
void add_analysis_options(CLI::App* command, ephemera::AnalyzeOptions& options) {
    command->add_option("--filter", options.filter, "BPF filter in tcpdump syntax");
    command
        ->add_option("--udp-timeout", options.udp_timeout_s,
                     "Seconds of silence that end a UDP flow")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    command->add_option("--top", options.top, "Rows per table in the text report and live view")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    command
        ->add_option("--range", options.ranges,
                     "Ephemeral range LO-HI for every client, or ADDR=LO-HI for one; "
                     "repeatable. Default: inferred per client")
        ->type_name("[ADDR=]LO-HI");
    command
        ->add_option("--time-wait", options.time_wait_s,
                     "Seconds a closed 4-tuple stays in TIME_WAIT. Default: the client's OS "
                     "profile (Linux 60, macOS 30, Windows 120), else 60")
        ->check(CLI::PositiveNumber);
    command
        ->add_option("--thresholds", options.thresholds,
                     "Utilization at which a destination becomes warning, critical, exhausted")
        ->type_name("W,C,E")
        ->capture_default_str();
    command
        ->add_option("--max-connections", options.max_connections,
                     "Connections held at once; beyond it the oldest half-open ones are dropped "
                     "first (bounds memory under a SYN flood)")
        ->check(CLI::Range(std::size_t{8}, std::size_t{1} << 28))
        ->capture_default_str();
    command
        ->add_option("--scan-ports", options.scan_ports,
                     "Distinct ports a source must probe (with probes 80% of its connections) "
                     "to be reported as a port scan")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    command
        ->add_option("--destinations", options.destinations,
                     "Destinations listed per client in the JSON report")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
}

void add_analyze_command(CLI::App& app, ephemera::AnalyzeOptions& options) {
    CLI::App* analyze = app.add_subcommand(
        "analyze", "Analyze capture files: connections, client/server roles, ports per host");
    analyze
        ->add_option("files", options.inputs,
                     "Capture files (pcap or pcapng); '-' reads standard input. Several files "
                     "are merged in timestamp order")
        ->required();
    analyze
        ->add_option(
            "--format", options.format,
            "Report format: text for people, json for scripts, html for a self-contained page of "
            "plots (with -o)")
        ->check(CLI::IsMember({"text", "json", "html"}))
        ->capture_default_str();
    analyze->add_option("-o,--output", options.output,
                        "Write the report to FILE instead of stdout");
    analyze->add_option("--connections", options.connections_csv,
                        "Also write one CSV row per connection to FILE");
    analyze
        ->add_option("--reader", options.reader,
                     "auto: classic pcap and common pcapng files are read by ephemera's own "
                     "reader, the rest by libpcap; libpcap: every file by libpcap")
        ->check(CLI::IsMember({"auto", "libpcap"}))
        ->capture_default_str();
    add_analysis_options(analyze, options);
}

void add_live_command(CLI::App& app, ephemera::LiveOptions& options) {
    CLI::App* live = app.add_subcommand(
        "live",
        "Watch an interface: a view refreshed every interval, alerts, Prometheus metrics; "
        "Ctrl-C prints the final report");
    live->add_option("-i,--interface", options.interface, "Interface to capture on")->required();
    live->add_option("--format", options.analysis.format,
                     "text: a refreshing screen on a terminal (JSON lines otherwise); json: one "
                     "JSON object per interval. Also the final report's format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    live->add_option("-o,--output", options.analysis.output,
                     "Write the final report to FILE instead of stdout");
    live->add_option("--snaplen", options.snaplen,
                     "Bytes captured per packet: headers, not payload")
        ->capture_default_str();
    live->add_option("--buffer-size", options.buffer_mib, "Kernel capture buffer, MiB")
        ->capture_default_str();
    live->add_option("--interval", options.interval_s, "Seconds between refreshes")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    live->add_option("--window", options.window_s,
                     "Seconds that rates are measured over; hosts idle longer leave the view")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    live->add_option("--duration", options.duration_s,
                     "Stop after this many seconds, as Ctrl-C would. Default: run until stopped")
        ->check(CLI::PositiveNumber);
    live->add_option("--alert-at", options.alert_at,
                     "Utilization (occupied now / range) at which a destination raises an alert "
                     "line on stderr, and clears it when it falls back")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    live->add_option("-w,--write", options.write_path,
                     "Also save the captured packets to FILE (pcap), to analyze again later");
    live->add_option("--metrics-listen", options.metrics_listen,
                     "Serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR defaults to "
                     "127.0.0.1)")
        ->type_name("[ADDR:]PORT");
    live->add_option("--metrics-top", options.metrics_top,
                     "Destinations exported as labelled series, highest utilization first")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    live->add_option("--user", options.user,
                     "Drop to this user once the capture is open (as tcpdump -Z does)");
    live->add_option("--max-records", options.max_records,
                     "Finished connections kept for the final report; beyond it the oldest "
                     "eighth is dropped (bounds memory over days)")
        ->check(CLI::Range(std::size_t{1000}, std::size_t{1} << 30))
        ->capture_default_str();
    add_analysis_options(live, options.analysis);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ephemera: how hosts allocate, reuse and exhaust ephemeral ports, from captures"};
    app.set_version_flag("--version", std::string("ephemera ") + ephemera::version);
    app.require_subcommand(1);
    ephemera::AnalyzeOptions analyze_options;
    add_analyze_command(app, analyze_options);
    ephemera::LiveOptions live_options;
    add_live_command(app, live_options);
    app.add_subcommand("interfaces", "List the interfaces that can be captured on");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "ephemera: {} (see ephemera --help)\n", e.what());
        return ephemera::exit_code::user_error;
    }

    try {
        if (app.got_subcommand("analyze")) return ephemera::run_analyze(analyze_options);
        if (app.got_subcommand("live")) return ephemera::run_live(live_options);
        if (app.got_subcommand("interfaces")) return ephemera::run_interfaces();
        return ephemera::exit_code::user_error;
    } catch (const ephemera::UserError& e) {
        fmt::print(stderr, "ephemera: {}\n", e.what());
        return ephemera::exit_code::user_error;
    } catch (const std::exception& e) {
        fmt::print(stderr, "ephemera: internal error: {}\n", e.what());
        return ephemera::exit_code::internal_error;
    }
}
