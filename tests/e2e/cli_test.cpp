// What a user sees when something is wrong: one line on stderr naming the cause, exit code 2,
// nothing on stdout; and a capture cut off mid-packet is analyzed up to the cut, with a warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

int line_count(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

void expect_user_error(const RunResult& result, const std::string& mentions) {
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(line_count(result.err), 1) << result.err;
    EXPECT_NE(result.err.find(mentions), std::string::npos) << result.err;
}

TEST(UserErrors, MissingFile) {
    expect_user_error(run_ephemera({"analyze", "/nonexistent/capture.pcap"}),
                      "/nonexistent/capture.pcap");
}

TEST(UserErrors, NotACapture) {
    const std::string readme = (source_dir() / "CMakeLists.txt").string();
    const RunResult result = run_ephemera({"analyze", readme});
    expect_user_error(result, readme);
}

TEST(UserErrors, Directory) {
    expect_user_error(run_ephemera({"analyze", source_dir().string()}), source_dir().string());
}

TEST(UserErrors, EmptyFile) {
    TempDir temp;
    std::ofstream(temp.file("empty.pcap")).close();
    expect_user_error(run_ephemera({"analyze", temp.file("empty.pcap")}), "empty.pcap");
}

TEST(UserErrors, BadFilter) {
    expect_user_error(
        run_ephemera({"analyze", "--filter", "tcp port banana", sample("tcp-ipv4.pcap")}),
        "tcp port banana");
}

TEST(UserErrors, UnknownOptionAndFormat) {
    expect_user_error(run_ephemera({"analyze", "--frobnicate", sample("tcp-ipv4.pcap")}),
                      "frobnicate");
    expect_user_error(run_ephemera({"analyze", "--format", "xml", sample("tcp-ipv4.pcap")}), "xml");
    expect_user_error(run_ephemera({"analyze"}), "files");
}

TEST(UserErrors, UnwritableOutputLeavesNothingBehind) {
    TempDir temp;
    const std::string target = temp.file("missing-dir/connections.csv");
    expect_user_error(run_ephemera({"analyze", "--connections", target, sample("tcp-ipv4.pcap")}),
                      target);
    EXPECT_FALSE(std::filesystem::exists(temp.path() / "missing-dir"));
}

// Writing can also fail part way, on a full disk or past a file size limit: the run then fails
// as a whole, with one line and exit 2, not as a success with half a report.
TEST(UserErrors, ReportThatCannotBeWrittenToStandardOutput) {
    // /dev/full refuses every write, as a full disk does.
    const RunResult result =
        run({"/bin/sh", "-c", "exec \"$0\" analyze --format json \"$1\" > /dev/full",
             EPHEMERA_BINARY, sample("tcp-ipv4.pcap").string()});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(line_count(result.err), 1) << result.err;
    EXPECT_NE(result.err.find("cannot write standard output: No space left on device"),
              std::string::npos)
        << result.err;
}

TEST(UserErrors, ConnectionsPastAFileSizeLimitLeaveNothingBehind) {
    TempDir temp;
    const std::string target = temp.file("connections.csv");
    // One block allowed. The CSV takes 5 kB, more than a stdio buffer, so writes fail before the
    // file is closed; with SIGXFSZ ignored, they fail with EFBIG instead of killing the process.
    const RunResult result =
        run({"/bin/sh", "-c",
             "trap '' XFSZ; ulimit -f 1; exec \"$0\" analyze --connections \"$1\" \"$2\"",
             EPHEMERA_BINARY, target, sample("exhausted.pcap").string()});
    expect_user_error(result, target + ": File too large");
    EXPECT_TRUE(std::filesystem::is_empty(temp.path())) << "no CSV and no temporary file";
}

TEST(Output, ReportFileIsWrittenWhole) {
    TempDir temp;
    const RunResult result = run_ephemera(
        {"analyze", "--format", "json", "-o", temp.file("report.json"), sample("udp.pcap")});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "");
    const auto report = nlohmann::json::parse(read_file(temp.path() / "report.json"));
    EXPECT_EQ(report["connections"]["udp"], read_truth("udp").size());
    // Only the report is left in the directory: no temporary file.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(temp.path()),
                            std::filesystem::directory_iterator()),
              1);
}

TEST(Output, HelpAndVersion) {
    const RunResult help = run_ephemera({"analyze", "--help"});
    EXPECT_EQ(help.exit_code, 0);
    for (const char* option :
         {"--filter", "--format", "--output", "--connections", "--udp-timeout", "--top", "--range",
          "--time-wait", "--thresholds", "--max-connections", "--scan-ports", "--destinations"}) {
        EXPECT_NE(help.out.find(option), std::string::npos) << option;
    }
    const RunResult version = run_ephemera({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_NE(version.out.find("ephemera"), std::string::npos);
}

// A file cut inside its last packet record: everything before the cut counts, and the user is
// told, on stderr and in the report's warnings.
TEST(DamagedInput, TruncatedCaptureIsAnalyzedUpToTheCut) {
    TempDir temp;
    const std::string whole = read_file(sample("tcp-ipv4.pcap"));
    const std::string cut_path = temp.file("cut.pcap");
    std::ofstream(cut_path, std::ios::binary) << whole.substr(0, whole.size() - 20);
    const RunResult result = run_ephemera({"analyze", "--format", "json", cut_path});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("cut off"), std::string::npos) << result.err;
    const auto report = nlohmann::json::parse(result.out);
    ASSERT_EQ(report["warnings"].size(), 1u);
    EXPECT_NE(report["warnings"][0].get<std::string>().find("cut off"), std::string::npos);
    const auto full = nlohmann::json::parse(
        run_ephemera({"analyze", "--format", "json", sample("tcp-ipv4.pcap")}).out);
    EXPECT_EQ(report["capture"]["packets"].get<int>() + 1, full["capture"]["packets"].get<int>());
    EXPECT_EQ(report["connections"]["tcp"], full["connections"]["tcp"]);
}

}  // namespace
}  // namespace ephemera::test

namespace ephemera::test {
namespace {

// The README's quick-start example is the binary's real output, to the character.
TEST(Readme, QuickStartOutputIsRealOutput) {
    const std::string readme = read_file(source_dir() / "README.md");
    const std::string opening = "What ephemera\nprints:\n\n```\n";
    const std::size_t begin = readme.find(opening);
    ASSERT_NE(begin, std::string::npos) << "the README's quick start moved";
    const std::size_t start = begin + opening.size();
    const std::string shown = readme.substr(start, readme.find("```", start) - start);
    const RunResult result =
        run_ephemera({"analyze", "pcaps/exhausted.pcap"}, "/dev/null", 60, source_dir().string());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(shown, result.out)
        << "the README shows output the binary no longer gives: update its Quick start";
}

}  // namespace
}  // namespace ephemera::test
