// Entry point: parses the command line and is the one place where errors become messages and
// exit codes (see README, "Exit codes").
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <exception>

#include "ephemera/app/analyze.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/version.hpp"

namespace {

void add_analyze_command(CLI::App& app, ephemera::AnalyzeOptions& options) {
    CLI::App* analyze = app.add_subcommand(
        "analyze", "Analyze capture files: connections, client/server roles, ports per host");
    analyze
        ->add_option("files", options.inputs,
                     "Capture files (pcap or pcapng); '-' reads standard input. Several files "
                     "are merged in timestamp order")
        ->required();
    analyze->add_option("--filter", options.filter, "BPF filter in tcpdump syntax");
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
        ->add_option("--udp-timeout", options.udp_timeout_s,
                     "Seconds of silence that end a UDP flow")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    analyze->add_option("--top", options.top, "Rows per table in the text report")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    analyze
        ->add_option("--range", options.ranges,
                     "Ephemeral range LO-HI for every client, or ADDR=LO-HI for one; "
                     "repeatable. Default: inferred per client")
        ->type_name("[ADDR=]LO-HI");
    analyze
        ->add_option("--time-wait", options.time_wait_s,
                     "Seconds a closed 4-tuple stays in TIME_WAIT. Default: the client's OS "
                     "profile (Linux 60, macOS 30, Windows 120), else 60")
        ->check(CLI::PositiveNumber);
    analyze
        ->add_option("--thresholds", options.thresholds,
                     "Utilization at which a destination becomes warning, critical, exhausted")
        ->type_name("W,C,E")
        ->capture_default_str();
    analyze
        ->add_option("--max-connections", options.max_connections,
                     "Connections held at once; beyond it the oldest half-open ones are dropped "
                     "first (bounds memory under a SYN flood)")
        ->check(CLI::Range(std::size_t{8}, std::size_t{1} << 28))
        ->capture_default_str();
    analyze
        ->add_option("--scan-ports", options.scan_ports,
                     "Distinct ports a source must probe (with probes 80% of its connections) "
                     "to be reported as a port scan")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    analyze
        ->add_option("--destinations", options.destinations,
                     "Destinations listed per client in the JSON report")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ephemera: how hosts allocate, reuse and exhaust ephemeral ports, from captures"};
    app.set_version_flag("--version", std::string("ephemera ") + ephemera::version);
    app.require_subcommand(1);
    ephemera::AnalyzeOptions analyze_options;
    add_analyze_command(app, analyze_options);

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
        return ephemera::exit_code::user_error;
    } catch (const ephemera::UserError& e) {
        fmt::print(stderr, "ephemera: {}\n", e.what());
        return ephemera::exit_code::user_error;
    } catch (const std::exception& e) {
        fmt::print(stderr, "ephemera: internal error: {}\n", e.what());
        return ephemera::exit_code::internal_error;
    }
}
