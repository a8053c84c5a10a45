// What a user sees when something is wrong: one line on stderr naming the cause, exit code 2,
// nothing on stdout; and a capture cut off mid-packet is analyzed up to the cut, with a warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
    expect_user_error(run_ephemera({"analyze"}),
                      "give at least one capture file, or - for standard input");
}

// Number options say what they need in words, and point to the command's own help.
TEST(UserErrors, NumberOptionsSayWhatTheyNeed) {
    const std::string capture = sample("tcp-ipv4.pcap").string();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--top", "0"}, "--top must be at least 1"},
        {{"--udp-timeout", "-1"}, "--udp-timeout must be more than 0"},
        {{"--time-wait", "0"}, "--time-wait must be more than 0"},
        {{"--services", "0"}, "--services must be at least 1"},
        {{"--destinations", "0"}, "--services must be at least 1"},  // its old name
        {{"--top", "many"}, "--top must be a whole number"},
        {{"--scan-ports", "2.5"}, "--scan-ports must be a whole number"},
        {{"--max-connections", "4"}, "--max-connections must be at least 8"},
        {{"--fail-on", "bad"}, "--fail-on must be one of warning, critical, exhausted"},
    };
    for (const auto& [options, message] : cases) {
        std::vector<std::string> args = {"analyze"};
        args.insert(args.end(), options.begin(), options.end());
        args.push_back(capture);
        const RunResult result = run_ephemera(args);
        expect_user_error(result, message);
        EXPECT_NE(result.err.find("(see ephemera analyze --help)"), std::string::npos)
            << result.err;
        EXPECT_LT(result.err.size(), 120u) << result.err;
    }
}

TEST(UserErrors, UnknownCommandSuggestsTheNearestOne) {
    expect_user_error(run_ephemera({"analyse", sample("tcp-ipv4.pcap")}),
                      "unknown command 'analyse'; did you mean 'analyze'?");
    expect_user_error(run_ephemera({"lvie"}), "did you mean 'live'?");
    expect_user_error(run_ephemera({"foo"}),
                      "unknown command 'foo'; the commands are analyze, "
                      "live and interfaces");
}

// The path is named once, and an empty file is called empty.
TEST(UserErrors, MessagesNameThePathOnce) {
    const RunResult missing = run_ephemera({"analyze", "/nope.pcap"});
    expect_user_error(missing, "cannot read capture /nope.pcap: No such file or directory");
    EXPECT_EQ(missing.err.find("/nope.pcap"), missing.err.rfind("/nope.pcap")) << missing.err;
    TempDir temp;
    std::ofstream(temp.file("empty.pcap")).close();
    const RunResult empty = run_ephemera({"analyze", temp.file("empty.pcap")});
    expect_user_error(empty, "empty.pcap: it is empty");
    const RunResult empty_stdin = run_ephemera({"analyze", "-"}, temp.file("empty.pcap"));
    expect_user_error(empty_stdin, "<stdin>: it is empty");
    std::ofstream(temp.file("text.pcap")) << "hello, not a capture\n";
    const RunResult text = run_ephemera({"analyze", temp.file("text.pcap")});
    EXPECT_EQ(text.err.find("text.pcap"), text.err.rfind("text.pcap")) << text.err;
    const RunResult bzip2 =
        run({"/bin/sh", "-c", "printf 'BZh91AY' | \"$0\" analyze -", EPHEMERA_BINARY});
    expect_user_error(bzip2, "compressed with bzip2");
}

// -o's extension chooses the format unless --format does; the two may not disagree.
TEST(Output, FormatFollowsTheReportFilesExtension) {
    TempDir temp;
    const std::string capture = sample("exhausted.pcap").string();
    ASSERT_EQ(run_ephemera({"analyze", "-o", temp.file("r.html"), capture}).exit_code, 0);
    EXPECT_EQ(read_file(temp.file("r.html")).rfind("<!DOCTYPE html>", 0), 0u);
    ASSERT_EQ(run_ephemera({"analyze", "-o", temp.file("r.json"), capture}).exit_code, 0);
    EXPECT_EQ(nlohmann::json::parse(read_file(temp.file("r.json")))["connections"]["tcp"], 48);
    ASSERT_EQ(run_ephemera({"analyze", "-o", temp.file("r.txt"), capture}).exit_code, 0);
    EXPECT_EQ(read_file(temp.file("r.txt")).rfind("Capture: 1 file", 0), 0u);
    expect_user_error(
        run_ephemera({"analyze", "--format", "json", "-o", temp.file("x.html"), capture}),
        "--format json and -o");
    EXPECT_FALSE(std::filesystem::exists(temp.file("x.html")));
    // Another extension: --format decides, text by default.
    ASSERT_EQ(run_ephemera({"analyze", "-o", temp.file("report.out"), capture}).exit_code, 0);
    EXPECT_EQ(read_file(temp.file("report.out")).rfind("Capture: 1 file", 0), 0u);
}

// `--connections -` is standard output, not a file named "-"; the report must then go elsewhere.
TEST(Output, ConnectionsToStandardOutput) {
    TempDir temp;
    const std::string capture = sample("exhausted.pcap").string();
    const RunResult both = run_ephemera({"analyze", "--connections", "-", capture}, "/dev/null", 60,
                                        temp.path().string());
    expect_user_error(both, "--connections - and the report would both go to standard output");
    const RunResult csv =
        run_ephemera({"analyze", "--connections", "-", "-o", temp.file("r.json"), capture},
                     "/dev/null", 60, temp.path().string());
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    EXPECT_EQ(csv.out.rfind("start,end,protocol,client,", 0), 0u) << csv.out;
    EXPECT_EQ(line_count(csv.out), 49);  // the header and 48 connections
    EXPECT_FALSE(std::filesystem::exists(temp.path() / "-"));
}

// An HTML page is not terminal output: on a terminal, without -o, it is refused with a hint.
TEST(Output, HtmlIsNotWrittenToATerminal) {
    if (!have_program("script")) GTEST_SKIP() << "script (util-linux) is not installed";
    const RunResult result = run({"script", "-qec",
                                  std::string(EPHEMERA_BINARY) + " analyze --format html " +
                                      sample("exhausted.pcap").string(),
                                  "/dev/null"});
    EXPECT_EQ(result.exit_code, 2) << result.out;
    EXPECT_NE(result.out.find("write it to a file with -o report.html"), std::string::npos)
        << result.out;
    EXPECT_EQ(result.out.find("<html"), std::string::npos);
}

// --fail-on: exit 3 once the report is written, when a destination reached the verdict.
TEST(Output, FailOnAVerdictExitsWithThree) {
    const std::string exhausted = sample("exhausted.pcap").string();
    for (const std::string verdict : {"warning", "critical", "exhausted"}) {
        const RunResult result =
            run_ephemera({"analyze", "--format", "json", "--fail-on", verdict, exhausted});
        EXPECT_EQ(result.exit_code, 3) << verdict << result.err;
        EXPECT_EQ(nlohmann::json::parse(result.out)["clients"][0]["exhaustion"]["verdict"],
                  "exhausted");
    }
    // The same client under a range four times as large reaches 25%: no verdict is reached.
    const RunResult fine =
        run_ephemera({"analyze", "--range", "41000-41063", "--fail-on", "warning", exhausted});
    EXPECT_EQ(fine.exit_code, 0) << fine.err;
    const RunResult half =
        run_ephemera({"analyze", "--range", "41000-41031", "--fail-on", "warning", exhausted});
    EXPECT_EQ(half.exit_code, 3) << half.err;
    const RunResult not_critical =
        run_ephemera({"analyze", "--range", "41000-41031", "--fail-on", "critical", exhausted});
    EXPECT_EQ(not_critical.exit_code, 0) << not_critical.err;
}

// A capture of no packets: no times at all, and a duration of 0.
TEST(Output, AnEmptyCaptureLastsNoTime) {
    TempDir temp;
    std::ofstream(temp.file("header.pcap"), std::ios::binary)
        << read_file(sample("tcp-ipv4.pcap")).substr(0, 24);
    const RunResult result =
        run_ephemera({"analyze", "--format", "json", temp.file("header.pcap")});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto report = nlohmann::json::parse(result.out);
    EXPECT_EQ(report["capture"]["duration_s"], 0.0);
    EXPECT_TRUE(report["capture"]["first_at"].is_null());
    EXPECT_TRUE(report["capture"]["last_at"].is_null());
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

// The connection log reserves gigabytes of address space at first (only what it fills takes
// memory); where a limit on address space refuses that, it starts smaller and the report is
// the same.
TEST(Limits, AnAddressSpaceLimitBelowTheLogsReservationChangesNothing) {
    if (EPHEMERA_SANITIZED) GTEST_SKIP() << "AddressSanitizer needs terabytes of address space";
    const std::string capture = sample("linux-default.pcap").string();
    const RunResult limited =
        run({"/bin/sh", "-c", "ulimit -v 2000000; exec \"$0\" analyze --format json \"$1\"",
             EPHEMERA_BINARY, capture});
    ASSERT_EQ(limited.exit_code, 0) << limited.err;
    const RunResult unlimited = run_ephemera({"analyze", "--format", "json", capture});
    ASSERT_EQ(unlimited.exit_code, 0) << unlimited.err;
    EXPECT_EQ(limited.out, unlimited.out);
    EXPECT_NE(limited.out.find("\"clients\""), std::string::npos);
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

// A report written to a pipe or a device goes into it: a file renamed over it would replace it
// (as root, -o /dev/null would have replaced /dev/null).
TEST(Output, AReportToANamedPipeGoesThroughIt) {
    TempDir temp;
    const std::string pipe = temp.file("report.pipe");
    ASSERT_EQ(run({"mkfifo", pipe}).exit_code, 0);
    const RunResult result =
        run({"/bin/sh", "-c",
             "cat \"$1\" > \"$1.read\" & \"$0\" analyze --format json -o \"$1\" \"$2\"; wait",
             EPHEMERA_BINARY, pipe, sample("udp.pcap").string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(std::filesystem::is_fifo(pipe)) << "the pipe is still a pipe";
    const auto report = nlohmann::json::parse(read_file(temp.path() / "report.pipe.read"));
    EXPECT_EQ(report["connections"]["udp"], read_truth("udp").size());
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

// The NAT section's line is what the binary prints for that sample.
TEST(Readme, NatSectionOutputIsRealOutput) {
    const std::string readme = read_file(source_dir() / "README.md");
    const std::string command = "$ build/ephemera analyze pcaps/nat-preserving.pcap | sed -n 6p\n";
    const std::size_t begin = readme.find(command);
    ASSERT_NE(begin, std::string::npos) << "the README's NAT section moved";
    const std::size_t start = begin + command.size();
    const std::string shown = readme.substr(start, readme.find('\n', start) + 1 - start);
    const RunResult result = run_ephemera({"analyze", "pcaps/nat-preserving.pcap"}, "/dev/null", 60,
                                          source_dir().string());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::istringstream lines(result.out);
    std::string line;
    for (int i = 0; i < 6; ++i) std::getline(lines, line);
    EXPECT_EQ(shown, line + "\n") << "update the README's NAT section";
}

// The "Common tasks" examples run as they are, with the exit code the README's table gives:
// 3 for --fail-on on a capture whose services are exhausted, 0 for the rest.
TEST(Readme, CommonTasksRunAsWritten) {
    const std::string readme = read_file(source_dir() / "README.md");
    const std::size_t section = readme.find("## Common tasks");
    ASSERT_NE(section, std::string::npos);
    const std::size_t begin = readme.find("```sh\n", section) + 6;
    const std::string block = readme.substr(begin, readme.find("```", begin) - begin);
    TempDir temp;
    std::filesystem::create_symlink(source_dir() / "pcaps", temp.path() / "pcaps");
    std::filesystem::create_directory(temp.path() / "build");
    std::filesystem::create_symlink(EPHEMERA_BINARY, temp.path() / "build" / "ephemera");
    std::size_t ran = 0;
    std::istringstream lines(block);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("sudo ", 0) == 0) continue;  // live needs an interface and root
        const std::string command = line.substr(0, line.find("  #"));
        const RunResult result =
            run({"/bin/sh", "-c", command}, "/dev/null", 60, temp.path().string());
        const int expected = command.find("--fail-on") != std::string::npos ? 3 : 0;
        EXPECT_EQ(result.exit_code, expected) << command << "\n" << result.err;
        EXPECT_FALSE(result.out.empty() && command.find(" -o ") == std::string::npos) << command;
        ++ran;
    }
    EXPECT_GE(ran, 9u);
    EXPECT_TRUE(std::filesystem::exists(temp.path() / "report.html"));
    EXPECT_EQ(nlohmann::json::parse(read_file(temp.path() / "report.json"))["schema"],
              "ephemera.report.v2");
}

// The exit-code table is the program's: every code it names is one main() can return, and the
// renames it lists are the schema's.
TEST(Readme, ExitCodesAndRenamesAgreeWithTheBinary) {
    const std::string readme = read_file(source_dir() / "README.md");
    for (const char* row : {"| 0 | success", "| 1 | internal error", "| 2 | the user can fix it",
                            "| 3 | `--fail-on VERDICT`"}) {
        EXPECT_NE(readme.find(row), std::string::npos) << row;
    }
    const std::string schema = read_file(source_dir() / "docs" / "report.schema.json");
    // The renames from v1 are in docs/json.md, which the README points to.
    EXPECT_NE(readme.find("docs/json.md"), std::string::npos);
    const std::string json_doc = read_file(source_dir() / "docs" / "json.md");
    const std::size_t table = json_doc.find("| v1 | v2 |");
    ASSERT_NE(table, std::string::npos);
    const std::string renames = json_doc.substr(table, json_doc.find("\n\n", table) - table);
    for (const char* key : {"first_at", "last_at", "service_count", "now_at", "started_at"}) {
        EXPECT_NE(renames.find(key), std::string::npos) << key;
        EXPECT_NE(schema.find(std::string("\"") + key + "\""), std::string::npos) << key;
    }
    for (const char* gone : {"\"files\"", "\"destinations\"", "\"destination_count\"",
                             "\"servers\"", "\"first\"", "\"last\""}) {
        EXPECT_EQ(schema.find(gone), std::string::npos) << gone << " is still in the schema";
    }
    // A user error exits with 2 and the README's --fail-on with 3, as the table says.
    EXPECT_EQ(run_ephemera({"analyze", "--top", "0", sample("udp.pcap").string()}).exit_code, 2);
}

}  // namespace
}  // namespace ephemera::test
