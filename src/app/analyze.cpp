#include "ephemera/app/analyze.hpp"

#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/app/state_file.hpp"
#include "ephemera/app/two_threads.hpp"
#include "ephemera/capture/reader.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/report/output.hpp"
#include "ephemera/report/report.hpp"
#include "ephemera/track/pipeline.hpp"
#include "ephemera/track/zeek_log.hpp"

namespace ephemera {
namespace {

std::vector<std::string> unsupported_link_warnings(const std::vector<CaptureFileInfo>& files) {
    std::vector<std::string> warnings;
    for (const CaptureFileInfo& file : files) {
        for (const int link_type : file.link_types) {
            if (is_supported_link(link_type)) continue;
            const char* name = pcap_datalink_val_to_name(link_type);
            warnings.push_back(fmt::format(
                "{}: link type {} ({}) is not decoded; its packets count as unsupported-link",
                file.path == "-" ? "<stdin>" : file.path, name != nullptr ? name : "unknown",
                link_type));
        }
    }
    return warnings;
}

PortRange parse_port_range(const std::string& text, const std::string& option) {
    unsigned low = 0;
    unsigned high = 0;
    char dash = 0;
    char extra = 0;
    if (std::sscanf(text.c_str(), "%u %c %u %c", &low, &dash, &high, &extra) != 3 || dash != '-' ||
        low == 0 || high > 65535 || low > high) {
        throw UserError(
            fmt::format("bad {} '{}': use LO-HI with 1 <= LO <= HI <= 65535", option, text));
    }
    return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
}

CaptureSummary summarize_files(CaptureSummary summary, const std::vector<CaptureFileInfo>& files,
                               const std::vector<std::string>& reader_warnings) {
    for (const CaptureFileInfo& file : files) {
        CaptureSummary::File entry;
        entry.path = file.path;
        entry.link_type = file.link_name;
        entry.packets = file.frames;
        entry.sections = file.sections;
        entry.compression = compression_name(file.compression);
        if (file.stopped_early) {
            // The reader's sentence about this file (its warnings name the file first).
            const std::string name = (file.path == "-" ? "<stdin>" : file.path) + ": ";
            for (const std::string& warning : reader_warnings) {
                if (warning.rfind(name, 0) == 0) entry.stopped = warning;
            }
            entry.bytes_unread = file.bytes_unread;
        }
        summary.files.push_back(std::move(entry));
    }
    return summary;
}

std::vector<CaptureReader::OpenedInput> open_inputs(const std::vector<std::string>& paths) {
    std::vector<CaptureReader::OpenedInput> inputs;
    std::size_t stdin_count = 0;
    for (const std::string& path : paths) {
        if (path == "-" && ++stdin_count > 1) {
            throw UserError("standard input ('-') can be given only once");
        }
        inputs.emplace_back(path, open_input_stream(path));
    }
    return inputs;
}

// The report on what reading the inputs left (`records`, `state`), the state saved first where
// the options say (--save-state).
AnalysisResult report_on(ConnectionRecords& records, SavedState state,
                         const AnalyzeOptions& options, const PortAnalysisOptions& port_analysis) {
    if (!options.save_state.empty()) {
        write_output(options.save_state,
                     [&](std::FILE* file) { write_state(file, records, state); });
    }
    std::vector<std::string> warnings = state.input_warnings;
    for (std::string& warning : pipeline_warnings(state.capture)) {
        warnings.push_back(std::move(warning));
    }
    warnings.insert(warnings.end(), state.reader_warnings.begin(), state.reader_warnings.end());
    AnalysisResult result;
    result.stderr_warnings = state.reader_warnings;
    auto kept = std::make_shared<ConnectionRecords>(std::move(records));
    result.records = kept;
    result.report = build_report(std::move(kept), std::move(state.capture), std::move(warnings),
                                 port_analysis, ScanOptions{options.scan_ports, 0.8});
    if (!options.connections_csv.empty()) result.oldest_first = oldest_first(*result.records);
    return result;
}

// Saved states (--save-state): their connections and summaries merged, then reported on as one
// run over all of their captures would have been.
AnalysisResult analyze_states(const AnalyzeOptions& options,
                              std::vector<CaptureReader::OpenedInput> inputs,
                              const PortAnalysisOptions& port_analysis) {
    for (const auto& [path, opened] : inputs) {
        if (!looks_like_state(opened.magic)) {
            throw UserError(fmt::format(
                "{} is not a saved state and the others are: analyze them in separate runs", path));
        }
    }
    if (!options.filter.empty()) {
        throw UserError("--filter selects packets: saved states hold connections");
    }
    ConnectionRecords records;
    SavedState state;
    for (auto& [path, opened] : inputs) read_state(path, *opened.stream, records, state);
    if (options.split_segments && !state.capture.split_segments) {
        throw UserError(
            "--split-segments keys hosts as packets are read: these states were saved without it");
    }
    return report_on(records, std::move(state), options, port_analysis);
}

// Zeek conn.logs: their rows are the connections, read into the log the tracker would have
// filled; the rest of the analysis is the same.
AnalysisResult analyze_zeek_logs(const AnalyzeOptions& options,
                                 std::vector<CaptureReader::OpenedInput> inputs,
                                 const PortAnalysisOptions& port_analysis,
                                 const TrackerOptions& tracking) {
    for (const auto& [path, opened] : inputs) {
        if (!looks_like_zeek_log(opened.magic)) {
            throw UserError(fmt::format(
                "{} is a capture and the others are Zeek logs: analyze them in separate runs",
                path));
        }
    }
    if (!options.filter.empty()) {
        throw UserError("--filter selects packets: Zeek logs have none (use zeek-cut or jq first)");
    }
    ConnectionLog log;
    CaptureSummary capture;
    capture.max_connections = tracking.max_connections;
    std::vector<std::string> warnings;
    bool any_row = false;
    for (auto& [path, opened] : inputs) {
        const ZeekLogReading reading = read_zeek_conn_log(path, *opened.stream, log);
        CaptureSummary::File file;
        file.path = path;
        file.link_type = std::string(zeek_format_name(reading.format));
        file.packets = reading.packets;
        file.sections = 1;
        file.compression = std::string(compression_name(opened.compression));
        capture.files.push_back(std::move(file));
        capture.packets += reading.packets;
        capture.decoded += reading.packets;
        if (reading.rows > 0) {
            capture.first = any_row ? std::min(capture.first, reading.first) : reading.first;
            capture.last = any_row ? std::max(capture.last, reading.last) : reading.last;
            any_row = true;
        }
        if (reading.damaged_rows > 0) {
            warnings.push_back(
                fmt::format("{} {} of {} could not be read and {} skipped ({})",
                            reading.damaged_rows, reading.damaged_rows == 1 ? "row" : "rows", path,
                            reading.damaged_rows == 1 ? "was" : "were", reading.first_damage));
        }
    }
    SavedState state;
    state.capture = std::move(capture);
    state.reader_warnings = std::move(warnings);
    return report_on(log.records(), std::move(state), options, port_analysis);
}

}  // namespace

namespace {

// "PROFILE", "PROFILE:ports=N" or "PROFILE:pool=N" (--gateway, after any ADDR=).
GatewayLimit parse_gateway(const std::string& given, const std::string& text) {
    const std::size_t colon = text.find(':');
    const GatewayProfile* profile = find_gateway_profile(text.substr(0, colon));
    std::string names;
    for (const GatewayProfile& entry : gateway_profiles()) {
        names += (names.empty() ? "" : ", ") + std::string(entry.name);
    }
    if (profile == nullptr) {
        throw UserError(fmt::format("bad --gateway '{}': the profiles are {}", given, names));
    }
    GatewayLimit limit{profile->name, profile->ports_per_destination, profile->time_wait_s};
    if (colon == std::string::npos) return limit;
    unsigned value = 0;
    char extra = 0;
    char key[8] = {};
    const bool parsed =
        std::sscanf(text.c_str() + colon + 1, "%7[a-z]=%u%c", key, &value, &extra) == 2;
    const std::string setting = key;
    if (parsed && setting == "ports" && profile->ports_settable && value >= 1 && value <= 65535) {
        limit.ports_per_destination = value;
        return limit;
    }
    if (parsed && setting == "pool" && profile->pool_settable && value >= 1 &&
        azure_default_snat_ports(value) > 0) {
        limit.ports_per_destination = azure_default_snat_ports(value);
        return limit;
    }
    throw UserError(
        fmt::format("bad --gateway '{}': azure-lb takes :pool=N (1 to 1000 instances) or :ports=N, "
                    "gcp-cloud-nat :ports=N (1 to 65535), the others nothing",
                    given));
}

}  // namespace

PortAnalysisOptions port_options(const AnalyzeOptions& options) {
    PortAnalysisOptions result;
    result.shared_addresses = options.shared_addresses;
    for (const std::string& text : options.gateways) {
        const std::size_t equals = text.find('=');
        const std::size_t colon = text.find(':');
        // ADDR= before the profile; an IPv6 address has colons of its own, the profile's
        // settings an '=' after a colon.
        if (equals == std::string::npos || (colon != std::string::npos && colon < equals &&
                                            find_gateway_profile(text.substr(0, colon)))) {
            result.gateway = parse_gateway(text, text);
            continue;
        }
        Address address;
        if (!parse_address(text.substr(0, equals), address)) {
            throw UserError(fmt::format("bad --gateway '{}': '{}' is not an IP address", text,
                                        text.substr(0, equals)));
        }
        result.client_gateways.emplace_back(address, parse_gateway(text, text.substr(equals + 1)));
    }
    for (const std::string& text : options.ranges) {
        const std::size_t equals = text.find('=');
        if (equals == std::string::npos) {
            result.range = parse_port_range(text, "--range");
            continue;
        }
        Address address;
        if (!parse_address(text.substr(0, equals), address)) {
            throw UserError(fmt::format("bad --range '{}': '{}' is not an IP address", text,
                                        text.substr(0, equals)));
        }
        result.client_ranges.emplace_back(address,
                                          parse_port_range(text.substr(equals + 1), "--range"));
    }
    if (options.time_wait_s < 0) throw UserError("--time-wait must be positive");
    if (options.time_wait_s > 0) result.time_wait_s = options.time_wait_s;
    double warning = 0;
    double critical = 0;
    double exhausted = 0;
    char extra = 0;
    if (std::sscanf(options.thresholds.c_str(), "%lf , %lf , %lf %c", &warning, &critical,
                    &exhausted, &extra) != 3 ||
        !(0 < warning && warning <= critical && critical <= exhausted)) {
        throw UserError(
            fmt::format("bad --thresholds '{}': use WARN,CRITICAL,EXHAUSTED, rising, "
                        "e.g. 0.5,0.8,1.0",
                        options.thresholds));
    }
    result.warning_at = warning;
    result.critical_at = critical;
    result.exhausted_at = exhausted;
    return result;
}

TrackerOptions tracker_options(const AnalyzeOptions& options) {
    if (options.udp_timeout_s <= 0) throw UserError("--udp-timeout must be positive");
    if (options.max_connections < 8) throw UserError("--max-connections must be at least 8");
    TrackerOptions result;
    result.udp_timeout = static_cast<Micros>(options.udp_timeout_s * 1e6);
    result.max_connections = options.max_connections;
    return result;
}

std::string_view format_name(ReportFormat format) noexcept {
    switch (format) {
        case ReportFormat::text:
            return "text";
        case ReportFormat::json:
            return "json";
        case ReportFormat::html:
            return "html";
    }
    return "text";
}

namespace {

// The format a report file's name asks for, if its extension names one.
std::optional<ReportFormat> format_of_extension(const std::string& path) {
    const std::size_t dot = path.rfind('.');
    if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return std::nullopt;
    std::string extension = path.substr(dot + 1);
    for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (extension == "html" || extension == "htm") return ReportFormat::html;
    if (extension == "json") return ReportFormat::json;
    if (extension == "txt" || extension == "text") return ReportFormat::text;
    return std::nullopt;
}

}  // namespace

void settle_output(AnalyzeOptions& options, std::initializer_list<ReportFormat> formats,
                   bool stdout_is_terminal) {
    if (options.output == "-") options.output.clear();
    if (const auto named = format_of_extension(options.output)) {
        if (options.format_given && *named != options.format) {
            throw UserError(
                fmt::format("--format {} and -o {} disagree: give one of them, or make them agree",
                            format_name(options.format), options.output));
        }
        if (std::find(formats.begin(), formats.end(), *named) == formats.end()) {
            throw UserError(fmt::format("-o {}: this command does not write {} reports",
                                        options.output, format_name(*named)));
        }
        options.format = *named;
    }
    if (options.connections_csv == "-" && options.output.empty()) {
        throw UserError(
            "--connections - and the report would both go to standard output: give the report "
            "a file with -o");
    }
    if (options.format == ReportFormat::html && options.output.empty() && stdout_is_terminal) {
        throw UserError(
            "an HTML report is a page, not terminal output: write it to a file with "
            "-o report.html");
    }
}

bool use_color(ColorChoice choice, const std::string& output, bool stdout_is_terminal) {
    switch (choice) {
        case ColorChoice::always:
            return true;
        case ColorChoice::never:
            return false;
        case ColorChoice::automatic:
            break;
    }
    const char* no_color = std::getenv("NO_COLOR");
    return output.empty() && stdout_is_terminal && (no_color == nullptr || *no_color == '\0');
}

int exit_code_for(const Report& report, FailOn fail_on) {
    if (fail_on == FailOn::never) return exit_code::ok;
    const auto threshold =
        static_cast<Verdict>(static_cast<int>(fail_on) - 1 + static_cast<int>(Verdict::warning));
    return report.clients.worst_verdict() >= threshold ? exit_code::verdict_reached : exit_code::ok;
}

DecodeOptions decode_options(const AnalyzeOptions& options) {
    DecodeOptions result;
    result.decapsulate = options.decapsulate;
    result.split_segments = options.split_segments;
    for (const std::string& text : options.tunnel_ports) {
        const std::size_t equals = text.find('=');
        const std::string kind_name = text.substr(0, equals);
        TunnelKind kind = TunnelKind::none;
        for (std::size_t k = 1; k < tunnel_kind_count; ++k) {
            const auto candidate = static_cast<TunnelKind>(k);
            if (tunnel_name(candidate) == kind_name) kind = candidate;
        }
        unsigned port = 0;
        char extra = 0;
        const bool udp_kind = kind == TunnelKind::vxlan || kind == TunnelKind::vxlan_gpe ||
                              kind == TunnelKind::geneve || kind == TunnelKind::gtp_u ||
                              kind == TunnelKind::teredo || kind == TunnelKind::mpls_udp;
        if (equals == std::string::npos || !udp_kind ||
            std::sscanf(text.c_str() + equals + 1, "%u%c", &port, &extra) != 1 || port == 0 ||
            port > 65535) {
            throw UserError(fmt::format(
                "bad --tunnel-port '{}': use KIND=PORT, KIND one of vxlan, vxlan-gpe, geneve, "
                "gtp-u, teredo, mpls-udp",
                text));
        }
        if (!result.ports.add(static_cast<std::uint16_t>(port), kind)) {
            throw UserError("too many --tunnel-port options");
        }
    }
    return result;
}

namespace {

// Reads the captures into `log`; what reading them left besides. The reader's buffers and the
// tracker's table go when it returns, before the report needs memory.
SavedState read_captures(std::vector<CaptureReader::OpenedInput> inputs,
                         const AnalyzeOptions& options, const TrackerOptions& tracking,
                         ConnectionLog& log) {
    CaptureReader reader(std::move(inputs), options.filter,
                         options.reader == ReaderChoice::automatic);
    PacketPipeline pipeline(tracking, log, decode_options(options));
    if (options.reading_thread) {
        const std::array<const GrowsIntoFreshMemory*, 3> growing{
            &pipeline.tracker(), &pipeline.tracker().lingering_memory(), &log};
        run_on_two_threads(reader, pipeline, growing);
    } else {
        while (const RawFrame* frame = reader.next()) {
            pipeline.on_frame(frame->timestamp, frame->link_type, frame->bytes);
        }
    }
    pipeline.finish();
    CaptureSummary& capture = pipeline.capture();
    capture.filtered = !options.filter.empty();

    SavedState state;
    state.capture = summarize_files(capture, reader.files(), reader.warnings());
    state.input_warnings = unsupported_link_warnings(reader.files());
    if (capture.packets == 0 && !options.filter.empty()) {
        state.input_warnings.push_back(
            fmt::format("the filter '{}' matched no packet: nothing to analyze", options.filter));
    }
    state.reader_warnings = reader.warnings();
    return state;
}

}  // namespace

AnalysisResult analyze_captures(const AnalyzeOptions& options) {
    // The HTML report draws occupancy over time and lists connections oldest first.
    const bool html = options.format == ReportFormat::html;
    PortAnalysisOptions port_analysis = port_options(options);
    port_analysis.occupancy_series = html;
    const TrackerOptions tracking = tracker_options(options);

    if (options.inputs.empty()) {
        throw UserError("give at least one capture file, or - for standard input");
    }
    std::vector<CaptureReader::OpenedInput> inputs = open_inputs(options.inputs);
    const auto zeek_logs = std::count_if(inputs.begin(), inputs.end(), [](const auto& input) {
        return looks_like_zeek_log(input.second.magic);
    });
    if (zeek_logs > 0) {
        return analyze_zeek_logs(options, std::move(inputs), port_analysis, tracking);
    }
    if (std::any_of(inputs.begin(), inputs.end(),
                    [](const auto& input) { return looks_like_state(input.second.magic); })) {
        return analyze_states(options, std::move(inputs), port_analysis);
    }
    ConnectionLog log;
    SavedState state = read_captures(std::move(inputs), options, tracking, log);
    return report_on(log.records(), std::move(state), options, port_analysis);
}

int run_analyze(const AnalyzeOptions& options) {
    const AnalysisResult result = analyze_captures(options);
    for (const std::string& warning : result.stderr_warnings) {
        fmt::print(stderr, "ephemera: warning: {}\n", warning);
    }
    const auto write_connections = [&](std::FILE* file) {
        if (options.connections_format == ConnectionsFormat::csv) {
            write_connections_csv(file, *result.records, result.oldest_first, result.report.capture,
                                  result.report.translations);
        } else {
            write_connections_zeek(file, *result.records, result.oldest_first,
                                   result.report.capture,
                                   options.connections_format == ConnectionsFormat::zeek_json);
        }
    };
    if (options.connections_csv == "-") {
        write_connections(stdout);
        if (const int error = standard_output_error(); error != 0) fail_on_standard_output(error);
    } else if (!options.connections_csv.empty()) {
        write_file_atomically(options.connections_csv, write_connections);
    }
    const ReportOptions report_options{
        options.top, options.destinations,
        use_color(options.color, options.output, isatty(STDOUT_FILENO) != 0)};
    switch (options.format) {
        case ReportFormat::json:
            write_output(options.output,
                         [&](std::FILE* file) { write_json(file, result.report, report_options); });
            break;
        case ReportFormat::html:
            write_output(options.output,
                         render_html(result.report, *result.records, report_options));
            break;
        case ReportFormat::text:
            write_output(options.output, render_text(result.report, report_options));
            break;
    }
    return exit_code_for(result.report, options.fail_on);
}

}  // namespace ephemera
