// libFuzzer harness for the whole pipeline: the input is a capture file or a saved state (seeds:
// pcaps/, states saved from some of them, and tcpdump's test captures). It is analyzed as `ephemera
// analyze` would, and rendered in every format; then read again through libpcap on one thread,
// which must give the same report, but for what libpcap cannot say (sections, bytes left unread)
// and on inputs libpcap reads otherwise (joined pcap files, pcapng files of several link types).
// User errors (not a capture, ...) are expected; anything else is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "ephemera/app/analyze.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/report/report.hpp"

namespace {

// The report without what only the project's readers can say.
std::string comparable(const std::string& rendered) {
    static const std::regex unread(", [0-9]+ bytes? left unread");
    nlohmann::json report = nlohmann::json::parse(std::regex_replace(rendered, unread, ""));
    for (nlohmann::json& input : report["capture"]["inputs"]) {
        input.erase("sections");
        input.erase("bytes_unread");
    }
    return report.dump();
}

// Whether libpcap reads this input as the project's readers do: one section, one link type.
bool libpcap_reads_it_alike(const ephemera::Report& report) {
    for (const ephemera::CaptureSummary::File& file : report.capture.files) {
        if (file.sections > 1 || file.link_type.find(',') != std::string::npos) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = "/dev/shm/ephemera-fuzz-" + std::to_string(getpid()) + ".pcap";
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return 0;
    std::fwrite(data, 1, size, file);
    std::fclose(file);

    ephemera::AnalyzeOptions options;
    options.inputs = {path};
    try {
        const ephemera::AnalysisResult result = ephemera::analyze_captures(options);
        const ephemera::ReportOptions report_options;
        (void)ephemera::render_json(result.report, report_options);
        (void)ephemera::render_text(result.report, report_options);
        (void)ephemera::render_html(result.report, *result.records, report_options);
        // Differential: the own readers must read the file exactly as libpcap does, and
        // the loop on one thread must give what the loop on two gave.
        if (!libpcap_reads_it_alike(result.report)) return 0;
        options.reader = ephemera::ReaderChoice::libpcap;
        options.reading_thread = false;
        const ephemera::AnalysisResult through_libpcap = ephemera::analyze_captures(options);
        if (comparable(ephemera::render_json(through_libpcap.report, report_options)) !=
            comparable(ephemera::render_json(result.report, report_options))) {
            __builtin_trap();
        }
    } catch (const ephemera::UserError&) {
        // a clear message for the user: the expected answer to garbage
    }
    return 0;
}
