// How findings rank (analysis/findings): what puts everything else in doubt first, then the
// destinations by how full they got, then the fixed ranks; a warning that repeats an input's stop
// is said once.
#include <gtest/gtest.h>

#include <vector>

#include "ephemera/analysis/findings.hpp"

namespace ephemera {
namespace {

std::vector<FindingKind> kinds(const Report& report) {
    std::vector<FindingKind> result;
    for (const Finding& finding : rank_findings(report)) result.push_back(finding.kind);
    return result;
}

DestinationOccupancy destination(Verdict verdict, double utilization) {
    DestinationOccupancy result;
    result.verdict = verdict;
    result.utilization = utilization;
    return result;
}

TEST(Findings, RankWorstFirst) {
    Report report;
    report.capture.packets = 10;
    ClientSummary& quiet = report.clients.held().emplace_back();
    quiet.port_use.failures.refused = 1;
    ClientSummary& busy = report.clients.held().emplace_back();
    busy.port_use.exhaustion.destinations = {destination(Verdict::warning, 0.6),
                                             destination(Verdict::exhausted, 1.0),
                                             destination(Verdict::ok, 0.1)};
    busy.port_use.range.evidence = RangeEvidence::configured;
    busy.port_use.range.outside = 3;
    report.scans.emplace_back();
    CaptureSummary::File& file = report.capture.files.emplace_back();
    file.stopped = "stopped at byte 40";
    report.warnings = {"stopped at byte 40", "a SYN flood"};

    const std::vector<Finding> ranked = rank_findings(report);
    EXPECT_EQ(kinds(report), (std::vector<FindingKind>{
                                 FindingKind::input_stopped, FindingKind::configured_range_mismatch,
                                 FindingKind::destination_occupancy,
                                 FindingKind::destination_occupancy, FindingKind::capture_warning,
                                 FindingKind::port_scan, FindingKind::failed_attempts}));
    // The fuller destination first, each named by its index among the client's.
    EXPECT_EQ(ranked[2].subject, 1u);
    EXPECT_EQ(ranked[2].detail, 1u);
    EXPECT_EQ(ranked[3].detail, 0u);
    // The warning kept is the one that does not repeat the input's stop.
    EXPECT_EQ(ranked[4].subject, 1u);
    EXPECT_EQ(ranked[6].subject, 0u);
}

TEST(Findings, AnEmptyCaptureSaysSoUnlessFilteredOrLive) {
    Report report;
    EXPECT_EQ(kinds(report), std::vector<FindingKind>{FindingKind::empty_capture});
    report.capture.filtered = true;
    EXPECT_TRUE(kinds(report).empty());
}

TEST(Findings, ARangeIsInDoubtWhereTheVerdictHangsOnIt) {
    RangeEstimate range;
    range.evidence = RangeEvidence::os_default;
    range.range = {32768, 60999};
    range.seen = {40000, 40099};  // 100 ports of 28,232
    EXPECT_TRUE(range_in_doubt(range, 80, 0.8));
    EXPECT_FALSE(range_in_doubt(range, 79, 0.8));
    range.seen = {33000, 59000};  // fills most of it
    EXPECT_FALSE(range_in_doubt(range, 30000, 0.8));
    range.evidence = RangeEvidence::estimated;
    EXPECT_TRUE(range_in_doubt(range, 0, 0.8));
    range.evidence = RangeEvidence::cycled;
    EXPECT_FALSE(range_in_doubt(range, 30000, 0.8));
}

}  // namespace
}  // namespace ephemera
