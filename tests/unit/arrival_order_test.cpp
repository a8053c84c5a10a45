// The report on a capture's connections does not depend on the order they reach the analysis.
// Today the log holds them in the order they ended, within the tracker's linger; an engine that
// takes each connection once it is final (issue #23) hands them over later, in another order.
// Checked on every sample, with the clients' summaries held and computed on demand.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/capture/reader.hpp"
#include "ephemera/report/report.hpp"
#include "ephemera/track/pipeline.hpp"

#include "sample_captures.hpp"

namespace ephemera {
namespace {

struct Read {
    ConnectionLog log;
    CaptureSummary capture;
};

std::unique_ptr<Read> read_sample(const std::string& path) {
    auto read = std::make_unique<Read>();
    CaptureReader reader({path}, "", true);
    PacketPipeline pipeline(TrackerOptions{}, read->log);
    while (const RawFrame* frame = reader.next()) {
        pipeline.on_frame(frame->timestamp, frame->link_type, frame->bytes);
    }
    pipeline.finish();
    read->capture = pipeline.capture();
    return read;
}

// `records` in the order `order` gives, their hosts numbered afresh as they come.
std::shared_ptr<ConnectionRecords> in_order(const ConnectionRecords& records,
                                            const std::vector<std::size_t>& order) {
    auto reordered = std::make_shared<ConnectionRecords>();
    for (const std::size_t index : order) reordered->add(records, records[index]);
    return reordered;
}

struct Rendered {
    std::string text;
    std::string json;
};

Rendered report_on(std::shared_ptr<ConnectionRecords> records, const CaptureSummary& capture,
                   std::size_t max_clients_held) {
    const Report report = build_report(std::move(records), capture, {}, PortAnalysisOptions{},
                                       ScanOptions{}, max_clients_held);
    const ReportOptions options;
    return {render_text(report, options), render_json(report, options)};
}

void expect_same_report_in_any_order(const std::string& path) {
    SCOPED_TRACE(path);
    const std::unique_ptr<Read> read = read_sample(path);
    const ConnectionRecords& records = read->log.records();
    std::vector<std::size_t> as_logged(records.size());
    std::iota(as_logged.begin(), as_logged.end(), std::size_t{0});
    std::vector<std::size_t> reversed(as_logged.rbegin(), as_logged.rend());
    // Roughly the order an engine emitting each connection after its last packet would give.
    std::vector<std::size_t> by_last_packet = as_logged;
    std::stable_sort(by_last_packet.begin(), by_last_packet.end(),
                     [&](std::size_t a, std::size_t b) {
                         return records.last_seen(records[a]) < records.last_seen(records[b]);
                     });
    for (const std::size_t held : {default_max_clients_held, std::size_t{0}}) {
        SCOPED_TRACE(held == 0 ? "clients on demand" : "clients held");
        const Rendered logged = report_on(in_order(records, as_logged), read->capture, held);
        for (const auto* order : {&reversed, &by_last_packet}) {
            const Rendered other = report_on(in_order(records, *order), read->capture, held);
            EXPECT_EQ(other.text, logged.text);
            EXPECT_EQ(other.json, logged.json);
        }
    }
}

TEST(ArrivalOrder, TheReportIsTheSameWhateverOrderConnectionsArriveIn) {
    const std::vector<std::string> samples = sample_captures();
    for (const std::string& path : samples) expect_same_report_in_any_order(path);
    EXPECT_GE(samples.size(), 14u);
}

}  // namespace
}  // namespace ephemera
