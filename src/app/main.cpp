// Entry point: parses the command line and is the one place where errors become messages and
// exit codes (see README, "Exit codes").
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "ephemera/app/analyze.hpp"
#include "ephemera/app/live.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/version.hpp"

namespace {

// A number option's check, worded for people: "must be at least 1", not CLI11's range with 309
// digits. `integer`: whole numbers only.
CLI::Validator at_least(double minimum, bool integer, bool strictly = false) {
    const std::string need = strictly ? fmt::format("must be more than {}", minimum)
                                      : fmt::format("must be at least {}", minimum);
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            std::size_t used = 0;
            double value = 0;
            try {
                value = std::stod(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != text.size() || text.empty()) {
                return integer ? "must be a whole number" : "must be a number";
            }
            if (integer && value != static_cast<double>(static_cast<long long>(value))) {
                return "must be a whole number";
            }
            if (strictly ? value <= minimum : value < minimum) return need;
            return "";
        },
        strictly ? fmt::format("NUMBER > {}", minimum) : fmt::format("NUMBER >= {}", minimum));
}

// A word option's check: "must be one of text, json, html", then the word becomes its value.
template <typename Value>
CLI::Validator one_of(const std::vector<std::pair<std::string, Value>>& words) {
    std::string names;
    for (const auto& [word, value] : words) names += (names.empty() ? "" : ", ") + word;
    return CLI::Validator(
        [words, names](std::string& text) -> std::string {
            for (const auto& [word, value] : words) {
                if (word == text) {
                    text = std::to_string(static_cast<int>(value));
                    return "";
                }
            }
            return fmt::format("must be one of {}, not '{}'", names, text);
        },
        "");
}

// Options given as words with a fixed set of meanings.
const std::vector<std::pair<std::string, ephemera::ReportFormat>> analyze_formats = {
    {"text", ephemera::ReportFormat::text},
    {"json", ephemera::ReportFormat::json},
    {"html", ephemera::ReportFormat::html}};
const std::vector<std::pair<std::string, ephemera::ReportFormat>> live_formats = {
    {"text", ephemera::ReportFormat::text}, {"json", ephemera::ReportFormat::json}};
const std::vector<std::pair<std::string, ephemera::ReaderChoice>> readers = {
    {"auto", ephemera::ReaderChoice::automatic}, {"libpcap", ephemera::ReaderChoice::libpcap}};
const std::vector<std::pair<std::string, bool>> decapsulations = {{"all", true}, {"none", false}};
const std::vector<std::pair<std::string, ephemera::ConnectionsFormat>> connections_formats = {
    {"csv", ephemera::ConnectionsFormat::csv},
    {"zeek", ephemera::ConnectionsFormat::zeek},
    {"zeek-json", ephemera::ConnectionsFormat::zeek_json}};
const std::vector<std::pair<std::string, ephemera::ColorChoice>> color_choices = {
    {"auto", ephemera::ColorChoice::automatic},
    {"always", ephemera::ColorChoice::always},
    {"never", ephemera::ColorChoice::never}};
const std::vector<std::pair<std::string, ephemera::FailOn>> fail_on_verdicts = {
    {"warning", ephemera::FailOn::warning},
    {"critical", ephemera::FailOn::critical},
    {"exhausted", ephemera::FailOn::exhausted}};

// The analysis settings `analyze` and `live` share.
void add_analysis_options(CLI::App* command, ephemera::AnalyzeOptions& options) {
    command->add_option("--filter", options.filter, "BPF filter in tcpdump syntax");
    command
        ->add_option("--udp-timeout", options.udp_timeout_s,
                     "Seconds of silence that end a UDP flow")
        ->check(at_least(0, false, true))
        ->capture_default_str();
    command->add_option("--top", options.top, "Rows per table in the text report and live view")
        ->check(at_least(1, true))
        ->capture_default_str();
    command
        ->add_option("--range", options.ranges,
                     "Ephemeral range LO-HI for every client, or ADDR=LO-HI for one; "
                     "repeatable. Default: inferred per client")
        ->type_name("[ADDR=]LO-HI")
        ->allow_extra_args(false);  // one range per --range: what follows is a file
    command
        ->add_option("--gateway", options.gateways,
                     "Judge occupancy against a translator's limit per destination instead of an "
                     "OS range: aws-nat, azure-lb[:pool=N|:ports=N], azure-nat, "
                     "gcp-cloud-nat[:ports=N], linux-masquerade; for every client, or ADDR=PROFILE "
                     "for one; repeatable")
        ->type_name("[ADDR=]PROFILE")
        ->allow_extra_args(false);
    command
        ->add_option("--time-wait", options.time_wait_s,
                     "Seconds a closed 4-tuple stays in TIME_WAIT. Default: the client's OS "
                     "profile (Linux 60, macOS 30, Windows 120), else 60")
        ->check(at_least(0, false, true));
    command
        ->add_option("--thresholds", options.thresholds,
                     "Utilization at which a service becomes warning, critical, exhausted")
        ->type_name("W,C,E")
        ->capture_default_str();
    command
        ->add_option("--max-connections", options.max_connections,
                     "Connections held at once; beyond it the oldest half-open ones are dropped "
                     "first (bounds memory under a SYN flood)")
        ->check(at_least(8, true) & CLI::Validator(
                                        [](std::string& text) -> std::string {
                                            return std::stod(text) > (1 << 28)
                                                       ? "must be at most 268435456"
                                                       : "";
                                        },
                                        ""))
        ->capture_default_str();
    command
        ->add_option("--scan-ports", options.scan_ports,
                     "Distinct ports a source must probe (with probes 80% of its connections) "
                     "to be reported as a port scan")
        ->check(at_least(1, true))
        ->capture_default_str();
    command
        ->add_option("--services,--destinations", options.destinations,
                     "Services listed per client in the JSON report")
        ->check(at_least(1, true))
        ->capture_default_str();
    command
        ->add_option("--decapsulate", options.decapsulate,
                     "all: analyze the innermost TCP/UDP of tunneled packets (VXLAN, Geneve, GRE, "
                     "ERSPAN, IP-in-IP, MPLS, PPPoE, GTP-U, Teredo); none: the outer packets, "
                     "as they are")
        ->transform(one_of(decapsulations))
        ->type_name("all|none");
    command
        ->add_option("--tunnel-port", options.tunnel_ports,
                     "A UDP port that carries a tunnel, besides the IANA ones: KIND=PORT, e.g. "
                     "vxlan=4790; repeatable")
        ->type_name("KIND=PORT")
        ->allow_extra_args(false);
    command
        ->add_option("--color", options.color,
                     "Colours for verdicts and findings in the text report: auto (on a terminal, "
                     "unless NO_COLOR is set), always, never")
        ->transform(one_of(color_choices))
        ->type_name("auto|always|never");
    command
        ->add_option("--fail-on", options.fail_on,
                     "Exit with code 3, after the report is written, when any service "
                     "reaches this verdict")
        ->transform(one_of(fail_on_verdicts))
        ->type_name("warning|critical|exhausted");
}

void add_analyze_command(CLI::App& app, ephemera::AnalyzeOptions& options) {
    CLI::App* analyze = app.add_subcommand(
        "analyze", "Analyze capture files: connections, client/server roles, ports per host");
    analyze->add_option("files", options.inputs,
                        "Capture files (pcap or pcapng, or either compressed with gzip, zstd or "
                        "lz4); '-' reads standard input. Several files are merged in timestamp "
                        "order");
    analyze
        ->add_option(
            "--format", options.format,
            "Report format: text for people, json for scripts, html for a self-contained page of "
            "plots (with -o). Default: from -o's extension (.txt, .json, .html), else text")
        ->transform(one_of(analyze_formats))
        ->type_name("text|json|html");
    analyze->add_option("-o,--output", options.output,
                        "Write the report to FILE instead of stdout");
    analyze->add_option("--connections", options.connections_csv,
                        "Also write one row per connection to FILE ('-': standard output)");
    analyze
        ->add_option("--connections-format", options.connections_format,
                     "csv; zeek: a Zeek conn.log (ASCII), the client as originator, ephemera's "
                     "fields after Zeek's; zeek-json: the same as JSON lines")
        ->transform(one_of(connections_formats))
        ->type_name("csv|zeek|zeek-json");
    analyze
        ->add_option("--reader", options.reader,
                     "auto: ephemera's own readers for pcap and pcapng files, libpcap where "
                     "they do not apply; libpcap: every regular file by libpcap")
        ->transform(one_of(readers))
        ->type_name("auto|libpcap");
    analyze
        ->add_option("--save-state", options.save_state,
                     "Also save what was read (the connections and the capture's summary) to FILE: "
                     "states saved from several captures, given to analyze together, report as "
                     "one run over all of the captures")
        ->type_name("FILE");
    add_analysis_options(analyze, options);
    // Not for live: its view and metrics name a client by its address alone.
    analyze->add_flag("--split-segments", options.split_segments,
                      "Key hosts and connections by their VLANs and tunnel ids as well, so the "
                      "same address in two segments is two hosts (each client gets a segment, "
                      "e.g. vlan:100/vxlan:42)");
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
        ->transform(one_of(live_formats))
        ->type_name("text|json");
    live->add_option("-o,--output", options.analysis.output,
                     "Write the final report to FILE instead of stdout");
    live->add_option("--snaplen", options.snaplen,
                     "Bytes captured per packet: headers, not payload")
        ->capture_default_str();
    live->add_option("--buffer-size", options.buffer_mib, "Kernel capture buffer, MiB")
        ->capture_default_str();
    live->add_option("--interval", options.interval_s, "Seconds between refreshes")
        ->check(at_least(0, false, true))
        ->capture_default_str();
    live->add_option("--window", options.window_s,
                     "Seconds that rates are measured over; hosts idle longer leave the view")
        ->check(at_least(0, false, true))
        ->capture_default_str();
    live->add_option("--duration", options.duration_s,
                     "Stop after this many seconds, as Ctrl-C would. Default: run until stopped")
        ->check(at_least(0, false, true));
    live->add_option("--alert-at", options.alert_at,
                     "Utilization (occupied now / range) at which a destination raises an alert "
                     "line on stderr, and clears it when it falls back")
        ->check(at_least(0, false, true))
        ->capture_default_str();
    live->add_option("--reopen", options.reopen_s,
                     "When the interface goes away, keep trying to reopen it for this many "
                     "seconds and go on counting (default: stop, and write the final report)")
        ->check(at_least(0, false, true));
    live->add_option("-w,--write", options.write_path,
                     "Also save the captured packets to FILE (pcap), to analyze again later");
    live->add_option("--metrics-listen", options.metrics_listen,
                     "Serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR defaults to "
                     "127.0.0.1)")
        ->type_name("[ADDR:]PORT");
    live->add_option("--metrics-web-config", options.metrics_web_config,
                     "Prometheus's exporter-toolkit web configuration (YAML): tls_server_config "
                     "(cert_file, key_file) for HTTPS, basic_auth_users (name: bcrypt hash)")
        ->type_name("FILE");
    live->add_option("--metrics-top", options.metrics_top,
                     "Destinations exported as labelled series, highest utilization first")
        ->check(at_least(1, true))
        ->capture_default_str();
    live->add_option("--user", options.user,
                     "Drop to this user once the capture is open (as tcpdump -Z does)");
    live->add_option("--max-records", options.max_records,
                     "Finished connections kept for the final report; beyond it the oldest "
                     "eighth is dropped (bounds memory over days)")
        ->check(at_least(1000, true))
        ->capture_default_str();
    add_analysis_options(live, options.analysis);
}

// The command names, for "did you mean".
constexpr std::array<std::string_view, 3> commands = {"analyze", "live", "interfaces"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// "unknown command 'analyse'; did you mean 'analyze'?" for a first word that is no command.
std::string unknown_command(std::string_view word) {
    std::string_view closest;
    std::size_t best = 3;  // suggest only what is at most two edits away
    for (const std::string_view command : commands) {
        const std::size_t distance = edit_distance(word, command);
        if (distance < best) {
            best = distance;
            closest = command;
        }
    }
    if (closest.empty()) {
        return fmt::format(
            "unknown command '{}'; the commands are analyze, live and interfaces "
            "(see ephemera --help)",
            word);
    }
    return fmt::format("unknown command '{}'; did you mean '{}'?", word, closest);
}

// CLI11's message, worded as the rest of ephemera's: "--top must be at least 1".
std::string parse_error_message(const CLI::ParseError& error) {
    std::string message = error.what();
    for (const std::string_view need : {": must ", ": Value "}) {
        if (const std::size_t at = message.find(need); at != std::string::npos && at < 40) {
            message.replace(at, 1, "");
        }
    }
    return message;
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

    if (argc > 1 && argv[1][0] != '-' &&
        std::find(commands.begin(), commands.end(), std::string_view(argv[1])) == commands.end()) {
        fmt::print(stderr, "ephemera: {}\n", unknown_command(argv[1]));
        return ephemera::exit_code::user_error;
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string help = "ephemera --help";
        for (const CLI::App* command : app.get_subcommands({})) {
            if (command->parsed()) help = "ephemera " + command->get_name() + " --help";
        }
        fmt::print(stderr, "ephemera: {} (see {})\n", parse_error_message(e), help);
        return ephemera::exit_code::user_error;
    }

    try {
        const bool terminal = isatty(STDOUT_FILENO) != 0;
        if (app.got_subcommand("analyze")) {
            analyze_options.format_given = app.get_subcommand("analyze")->count("--format") > 0;
            ephemera::settle_output(analyze_options,
                                    {ephemera::ReportFormat::text, ephemera::ReportFormat::json,
                                     ephemera::ReportFormat::html},
                                    terminal);
            return ephemera::run_analyze(analyze_options);
        }
        if (app.got_subcommand("live")) {
            live_options.analysis.format_given = app.get_subcommand("live")->count("--format") > 0;
            ephemera::settle_output(live_options.analysis,
                                    {ephemera::ReportFormat::text, ephemera::ReportFormat::json},
                                    terminal);
            return ephemera::run_live(live_options);
        }
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
