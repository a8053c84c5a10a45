// Saved states (analyze --save-state): the states of captures saved apart, analyzed together,
// report exactly as one run over all of the captures does. The captures are samples split in two
// by tshark: a NAT router's capture into its inside and its outside legs, a VXLAN capture into its
// TCP and its other packets.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

// The packets of pcaps/`sample` that tshark's display filter `filter` matches, as a pcap file.
std::string split(const std::string& sample, const std::string& filter, const std::string& out) {
    const RunResult tshark = run({"tshark", "-n", "-r", ephemera::test::sample(sample).string(),
                                  "-F", "pcap", "-w", out, "-Y", filter});
    EXPECT_EQ(tshark.exit_code, 0) << tshark.err;
    return out;
}

std::string output_of(const std::vector<std::string>& args) {
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
}

// ephemera run with `args` refuses, with exit 2 and one line on stderr that says `says`.
void expect_refused(const std::vector<std::string>& args, const std::string& says) {
    SCOPED_TRACE(says);
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find(says), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(SavedState, StatesSavedApartReportAsOneRunOverTheirCaptures) {
    struct Case {
        std::string sample;
        std::string filter;  // the first part; the rest is the second
    };
    for (const Case& split_case :
         {Case{"nat-preserving-any.pcap", "ip.addr == 198.18.0.0/16"}, Case{"vxlan.pcap", "tcp"}}) {
        SCOPED_TRACE(split_case.sample);
        TempDir temp;
        const std::string first = split(split_case.sample, split_case.filter, temp.file("a.pcap"));
        const std::string second =
            split(split_case.sample, "!(" + split_case.filter + ")", temp.file("b.pcap"));
        const std::string report = temp.file("report.txt");
        output_of({"analyze", first, "--save-state", temp.file("a.state"), "-o", report});
        output_of({"analyze", second, "--save-state", temp.file("b.state"), "-o", report});
        // A state is read compressed as well.
        ASSERT_EQ(run({"gzip", temp.file("b.state")}).exit_code, 0);
        const std::vector<std::string> states = {temp.file("a.state"), temp.file("b.state.gz")};

        for (const std::string format : {"text", "json"}) {
            SCOPED_TRACE(format);
            const std::string one_run = output_of({"analyze", "--format", format, first, second});
            std::vector<std::string> merge = {"analyze", "--format", format};
            merge.insert(merge.end(), states.begin(), states.end());
            EXPECT_EQ(output_of(merge), one_run);
        }
        const std::string one_run =
            output_of({"analyze", "--connections", "-", "-o", report, first, second});
        EXPECT_GT(std::count(one_run.begin(), one_run.end(), '\n'), 40) << "too few connections";
        std::vector<std::string> merge = {"analyze", "--connections", "-", "-o", report};
        merge.insert(merge.end(), states.begin(), states.end());
        EXPECT_EQ(output_of(merge), one_run);
    }
}

// With --split-segments a state keeps its segments, and merged states number them afresh: the
// same clients, inside VXLAN in one capture and Geneve in the other, are each state's segment 1,
// and two hosts each once merged, as in one run over both captures.
TEST(SavedState, SegmentsAreMergedByWhatTheyAre) {
    TempDir temp;
    std::vector<std::string> captures;
    for (const std::string tunnel : {"vxlan", "geneve"}) {
        captures.push_back(temp.file(tunnel + ".pcap"));
        ASSERT_EQ(run_generator({"connections", captures.back(), "--clients", "6", "--per-client",
                                 "5", "--encapsulate", tunnel})
                      .exit_code,
                  0);
        output_of({"analyze", "--split-segments", captures.back(), "--save-state",
                   temp.file(tunnel + ".state"), "-o", temp.file("report.txt")});
    }
    const std::vector<std::string> states = {temp.file("vxlan.state"), temp.file("geneve.state")};
    for (const std::string format : {"text", "json"}) {
        SCOPED_TRACE(format);
        const std::string one_run = output_of(
            {"analyze", "--split-segments", "--format", format, captures[0], captures[1]});
        EXPECT_EQ(output_of({"analyze", "--format", format, states[0], states[1]}), one_run);
    }
    const std::string report = temp.file("report.txt");
    EXPECT_EQ(output_of({"analyze", "--connections", "-", "-o", report, states[0], states[1]}),
              output_of({"analyze", "--split-segments", "--connections", "-", "-o", report,
                         captures[0], captures[1]}));
    const json merged =
        json::parse(output_of({"analyze", "--format", "json", states[0], states[1]}));
    EXPECT_EQ(merged["clients"].size(), 12u);
    std::set<std::string> segments;
    for (const json& client : merged["clients"]) segments.insert(client["segment"]);
    EXPECT_EQ(segments.size(), 2u);

    // States saved with and without it are not merged; nor is it asked of states without it.
    output_of({"analyze", captures[0], "--save-state", temp.file("plain.state"), "-o",
               temp.file("report.txt")});
    const struct {
        std::vector<std::string> args;
        std::string says;
    } refusals[] = {
        {{"analyze", states[0], temp.file("plain.state")}, "cannot be merged"},
        {{"analyze", "--split-segments", temp.file("plain.state")}, "saved without it"},
    };
    for (const auto& [args, says] : refusals) expect_refused(args, says);
}

// A state can be saved again from states: the merge of a merge is the same report.
TEST(SavedState, AMergedStateMergesAgain) {
    TempDir temp;
    const std::string filter = "ip.addr == 198.18.1.0/24";
    const std::string first = split("nat-random-any.pcap", filter, temp.file("a.pcap"));
    const std::string second =
        split("nat-random-any.pcap", "!(" + filter + ")", temp.file("b.pcap"));
    const std::string report = temp.file("report.txt");
    output_of({"analyze", first, "--save-state", temp.file("a.state"), "-o", report});
    output_of({"analyze", second, "--save-state", temp.file("b.state"), "-o", report});
    output_of(
        {"analyze", temp.file("a.state"), "--save-state", temp.file("a2.state"), "-o", report});
    EXPECT_EQ(
        output_of({"analyze", "--format", "json", temp.file("a2.state"), temp.file("b.state")}),
        output_of({"analyze", "--format", "json", first, second}));
}

TEST(SavedState, WhatCannotBeMergedIsRefusedInOneLine) {
    TempDir temp;
    const std::string capture = sample("tcp-ipv4.pcap").string();
    const std::string state = temp.file("s.state");
    output_of({"analyze", capture, "--save-state", state, "-o", temp.file("r.txt")});
    const std::string whole = read_file(state);
    {
        std::ofstream cut(temp.file("cut.state"), std::ios::binary);
        cut << whole.substr(0, whole.size() - 10);
    }
    const struct {
        std::vector<std::string> args;
        std::string says;
    } refusals[] = {
        {{"analyze", temp.file("cut.state")}, "not a saved state this version reads"},
        {{"analyze", state, capture}, "is not a saved state and the others are"},
        {{"analyze", "--filter", "tcp", state}, "saved states hold connections"},
    };
    for (const auto& [args, says] : refusals) expect_refused(args, says);
}

}  // namespace
}  // namespace ephemera::test
