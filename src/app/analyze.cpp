#include "ephemera/app/analyze.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/app/pipeline.hpp"
#include "ephemera/app/two_threads.hpp"
#include "ephemera/capture/reader.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/report/output.hpp"
#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

std::vector<std::string> unsupported_link_warnings(const std::vector<CaptureFileInfo>& files) {
    std::vector<std::string> warnings;
    for (const CaptureFileInfo& file : files) {
        if (!is_supported_link(file.link_type)) {
            warnings.push_back(fmt::format(
                "{}: link type {} ({}) is not decoded; its packets count as unsupported-link",
                file.path == "-" ? "<stdin>" : file.path, file.link_name, file.link_type));
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

CaptureSummary summarize_files(CaptureSummary summary, const std::vector<CaptureFileInfo>& files) {
    for (const CaptureFileInfo& file : files) {
        summary.files.push_back({file.path, file.link_name, file.frames});
    }
    return summary;
}

}  // namespace

PortAnalysisOptions port_options(const AnalyzeOptions& options) {
    PortAnalysisOptions result;
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

AnalysisResult analyze_captures(const AnalyzeOptions& options) {
    if (options.format != "text" && options.format != "json" && options.format != "html") {
        throw UserError(fmt::format("unknown format '{}': use text, json or html", options.format));
    }
    // The HTML report draws occupancy over time and lists connections oldest first.
    const bool html = options.format == "html";
    PortAnalysisOptions port_analysis = port_options(options);
    port_analysis.occupancy_series = html;
    const TrackerOptions tracking = tracker_options(options);

    if (options.reader != "auto" && options.reader != "libpcap") {
        throw UserError(fmt::format("unknown reader '{}': use auto or libpcap", options.reader));
    }
    CaptureReader reader(options.inputs, options.filter, options.reader == "auto");
    ConnectionLog log;
    PacketPipeline pipeline(tracking, log);

    if (options.reading_thread) {
        run_on_two_threads(reader, pipeline);
    } else {
        while (const RawFrame* frame = reader.next()) {
            pipeline.on_frame(frame->timestamp, frame->link_type, frame->bytes);
        }
    }
    pipeline.finish();
    CaptureSummary& capture = pipeline.capture();

    AnalysisResult result;
    std::vector<std::string> warnings = unsupported_link_warnings(reader.files());
    for (std::string& warning : pipeline_warnings(capture)) warnings.push_back(std::move(warning));
    for (const std::string& warning : reader.warnings()) {
        warnings.push_back(warning);
        result.stderr_warnings.push_back(warning);
    }
    result.report =
        build_report(log.records(), summarize_files(capture, reader.files()), std::move(warnings),
                     port_analysis, ScanOptions{options.scan_ports, 0.8});
    result.records = std::move(log.records());
    if (!options.connections_csv.empty()) result.oldest_first = oldest_first(result.records);
    return result;
}

int run_analyze(const AnalyzeOptions& options) {
    const AnalysisResult result = analyze_captures(options);
    for (const std::string& warning : result.stderr_warnings) {
        fmt::print(stderr, "ephemera: warning: {}\n", warning);
    }
    if (!options.connections_csv.empty()) {
        write_file_atomically(options.connections_csv, [&](std::FILE* file) {
            write_connections_csv(file, result.records, result.oldest_first);
        });
    }
    const ReportOptions report_options{options.top, options.destinations};
    std::string rendered;
    if (options.format == "json") {
        rendered = render_json(result.report, report_options);
    } else if (options.format == "html") {
        rendered = render_html(result.report, result.records, report_options);
    } else {
        rendered = render_text(result.report, report_options);
    }
    write_output(options.output, rendered);
    return exit_code::ok;
}

}  // namespace ephemera
