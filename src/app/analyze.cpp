#include "ephemera/app/analyze.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/capture/reader.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/report/output.hpp"
#include "ephemera/report/report.hpp"
#include "ephemera/track/tracker.hpp"

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

CaptureSummary summarize_files(CaptureSummary summary, const std::vector<CaptureFileInfo>& files) {
    for (const CaptureFileInfo& file : files) {
        summary.files.push_back({file.path, file.link_name, file.frames});
    }
    return summary;
}

}  // namespace

int run_analyze(const AnalyzeOptions& options) {
    if (options.format != "text" && options.format != "json") {
        throw UserError(fmt::format("unknown format '{}': use text or json", options.format));
    }
    if (options.udp_timeout_s <= 0) throw UserError("--udp-timeout must be positive");

    CaptureReader reader(options.inputs, options.filter);
    TrackerOptions tracker_options;
    tracker_options.udp_timeout = static_cast<Micros>(options.udp_timeout_s * 1e6);
    ConnectionLog log;
    ConnectionTracker tracker(tracker_options, log);
    CaptureSummary capture;

    RawFrame frame;
    while (reader.next(frame)) {
        capture.count_frame(frame.timestamp);
        const DecodeResult decoded =
            decode_packet(static_cast<LinkType>(frame.link_type), frame.bytes);
        if (!decoded.ok()) {
            ++capture.skipped[static_cast<std::size_t>(decoded.status)];
            continue;
        }
        ++capture.decoded;
        tracker.on_packet(frame.timestamp, decoded.packet);
    }
    tracker.finish();

    std::vector<std::string> warnings = unsupported_link_warnings(reader.files());
    for (const std::string& warning : reader.warnings()) {
        warnings.push_back(warning);
        fmt::print(stderr, "ephemera: warning: {}\n", warning);
    }
    const Report report = build_report(
        log.records(), summarize_files(std::move(capture), reader.files()), std::move(warnings));
    if (!options.connections_csv.empty()) {
        write_file_atomically(options.connections_csv,
                              [&](std::FILE* file) { write_connections_csv(file, log.records()); });
    }
    write_output(options.output, options.format == "json"
                                     ? render_json(report)
                                     : render_text(report, TextOptions{options.top}));
    return exit_code::ok;
}

}  // namespace ephemera
