// Hostile and odd input: floods, scans, odd-but-valid captures and user errors, each with the
// result it must give. Synthetic captures come from ephemera-gen (tools/generate.cpp), which
// writes what it generated as a truth file.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

struct Analysis {
    RunResult run;
    json report;
    std::vector<CsvRow> rows;
};

Analysis analyze(const TempDir& temp, const std::string& capture,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"analyze", "--format", "json", "--connections",
                                     temp.file("connections.csv")};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(capture);
    Analysis analysis{run_ephemera(args, "/dev/null", 300), json(), {}};
    EXPECT_EQ(analysis.run.exit_code, 0) << analysis.run.err;
    if (analysis.run.exit_code == 0) {
        analysis.report = json::parse(analysis.run.out);
        analysis.rows = read_csv(temp.file("connections.csv"));
    }
    return analysis;
}

std::vector<Conversation> truth_file(const std::string& path) {
    std::ifstream in(path);
    std::vector<Conversation> truth;
    std::string line;
    while (std::getline(in, line)) {
        const json entry = json::parse(line);
        truth.emplace_back(entry["protocol"], entry["client"], entry["client_port"],
                           entry["server"], entry["server_port"]);
    }
    return truth;
}

std::multiset<Conversation> conversations(const std::vector<CsvRow>& rows) {
    std::multiset<Conversation> found;
    for (const CsvRow& row : rows) found.insert(conversation_of(row));
    return found;
}

// ephemera-gen connections with a variant: every connection comes out, with the right roles.
struct Variant {
    std::string name;
    std::vector<std::string> flags;
};

std::ostream& operator<<(std::ostream& out, const Variant& v) {
    return out << v.name;
}

class OddCapture : public ::testing::TestWithParam<Variant> {};

TEST_P(OddCapture, EveryConnectionComesOut) {
    TempDir temp;
    std::vector<std::string> args = {"connections", temp.file("odd.pcap"), "--truth",
                                     temp.file("truth.jsonl")};
    args.insert(args.end(), GetParam().flags.begin(), GetParam().flags.end());
    const RunResult generated = run_generator(args);
    ASSERT_EQ(generated.exit_code, 0) << generated.err;
    const Analysis analysis = analyze(temp, temp.file("odd.pcap"));
    const std::vector<Conversation> truth = truth_file(temp.file("truth.jsonl"));
    ASSERT_EQ(truth.size(), 30u);
    EXPECT_EQ(conversations(analysis.rows),
              std::multiset<Conversation>(truth.begin(), truth.end()));
    for (const CsvRow& row : analysis.rows) {
        EXPECT_EQ(row.at("state"), "closed");
        EXPECT_EQ(row.at("role_reason"), "syn");
        // The generator's server sends 500 payload bytes (8900 with --jumbo), the client 100.
        const bool jumbo = GetParam().name == "jumbo";
        EXPECT_EQ(row.at("server_bytes"), jumbo ? "8900" : "500")
            << "from the IP length, not caplen";
        EXPECT_EQ(row.at("client_bytes"), "100");
    }
}

INSTANTIATE_TEST_SUITE_P(
    Generated, OddCapture,
    ::testing::Values(Variant{"plain", {}}, Variant{"nanosecond", {"--nanosecond"}},
                      Variant{"byte_swapped", {"--byte-swapped"}}, Variant{"mapped", {"--mapped"}},
                      Variant{"jumbo", {"--jumbo"}}, Variant{"snaplen_64", {"--snaplen", "64"}},
                      Variant{"duplicated", {"--duplicate"}},
                      Variant{"clock_step", {"--clock-step", "30"}}),
    [](const auto& info) { return info.param.name; });

// Enough clients that the JSON is built on both cores: each comes out once, in the order the text
// report (built on one) lists them.
TEST(ManyClients, JsonListsEveryClientOnceInTheTextReportsOrder) {
    TempDir temp;
    const std::string capture = temp.file("many.pcap");
    const RunResult generated =
        run_generator({"connections", capture, "--clients", "150", "--per-client", "4"});
    ASSERT_EQ(generated.exit_code, 0) << generated.err;
    const Analysis analysis = analyze(temp, capture);
    std::vector<std::string> from_json;
    for (const json& client : analysis.report["clients"]) {
        from_json.push_back(client["address"]);
        EXPECT_EQ(client["tcp_connections"], 4) << client["address"];
    }
    EXPECT_EQ(from_json.size(), 150u);
    EXPECT_EQ(std::set<std::string>(from_json.begin(), from_json.end()).size(), 150u);

    const RunResult text = run_ephemera({"analyze", "--top", "1000", capture});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    std::istringstream lines(text.out);
    std::string line;
    while (std::getline(lines, line) && line.rfind("Clients (", 0) != 0) {
    }
    std::getline(lines, line);  // the column headings
    std::vector<std::string> from_text;
    while (std::getline(lines, line) && !line.empty()) {
        std::istringstream row(line);
        std::string address;
        row >> address;
        from_text.push_back(address);
    }
    EXPECT_EQ(from_text, from_json);
}

TEST(OddCaptures, DetailsOfEachVariant) {
    TempDir temp;
    ASSERT_EQ(run_generator({"connections", temp.file("a.pcap")}).exit_code, 0);
    const json plain = analyze(temp, temp.file("a.pcap")).report;

    ASSERT_EQ(run_generator({"connections", temp.file("b.pcap"), "--nanosecond"}).exit_code, 0);
    const json nano = analyze(temp, temp.file("b.pcap")).report;
    EXPECT_EQ(nano["capture"]["first_at"], plain["capture"]["first_at"])
        << "same instant, finer unit";
    EXPECT_EQ(nano["capture"]["last_at"], plain["capture"]["last_at"]);

    ASSERT_EQ(run_generator({"connections", temp.file("c.pcap"), "--duplicate"}).exit_code, 0);
    const json twice = analyze(temp, temp.file("c.pcap")).report;
    EXPECT_EQ(twice["capture"]["packets"], 2 * plain["capture"]["packets"].get<int>());
    EXPECT_EQ(twice["connections"]["tcp"], plain["connections"]["tcp"]);

    ASSERT_EQ(run_generator({"connections", temp.file("d.pcap"), "--clock-step", "30"}).exit_code,
              0);
    const json stepped = analyze(temp, temp.file("d.pcap")).report;
    EXPECT_EQ(stepped["capture"]["backward_steps"], 1);
    ASSERT_EQ(stepped["warnings"].size(), 1u);
    EXPECT_NE(stepped["warnings"][0].get<std::string>().find("timestamps went backwards"),
              std::string::npos);

    ASSERT_EQ(run_generator({"connections", temp.file("e.pcap"), "--mapped"}).exit_code, 0);
    const json mapped = analyze(temp, temp.file("e.pcap")).report;
    for (const json& client : mapped["clients"]) {
        EXPECT_EQ(client["address"].get<std::string>().rfind("::ffff:198.18.0.", 0), 0u)
            << "an IPv4-mapped address stays IPv6";
    }
}

// Memory is bounded by --max-connections, not by the flood: twice the SYNs, about the same RSS.
TEST(Flood, SynFloodKeepsMemoryBounded) {
    TempDir temp;
    long rss[2] = {0, 0};
    const int syns[2] = {1'000'000, 2'000'000};
    for (int i = 0; i < 2; ++i) {
        const std::string capture = temp.file("flood.pcap");
        ASSERT_EQ(run_generator({"flood", capture, "--syns", std::to_string(syns[i])}).exit_code,
                  0);
        const Analysis analysis = analyze(temp, capture, {"--max-connections", "100000"});
        rss[i] = analysis.run.max_rss_kb;
        const json& tracker = analysis.report["capture"]["tracker"];
        EXPECT_GT(tracker["evicted_half_open"].get<long>(), syns[i] * 95L / 100);
        EXPECT_LT(analysis.report["clients"].size(), 1000u) << "flood sources are not clients";
        EXPECT_NE(analysis.report["warnings"][0].get<std::string>().find("SYN flood"),
                  std::string::npos);
        std::filesystem::remove(capture);
    }
    EXPECT_LT(rss[1], rss[0] * 11 / 10)
        << "RSS grew with the flood: " << rss[0] << " -> " << rss[1];
    if (!EPHEMERA_SANITIZED) {
        EXPECT_LT(rss[1], 128 * 1024) << "peak RSS " << rss[1] << " KiB (README: under 128 MiB)";
    }
    std::printf("flood peak RSS: %ld KiB for %d SYNs, %ld KiB for %d\n", rss[0], syns[0], rss[1],
                syns[1]);
}

TEST(Scan, PortScanIsReportedNotTakenForAClient) {
    TempDir temp;
    ASSERT_EQ(run_generator({"scan", temp.file("scan.pcap"), "--truth", temp.file("truth.jsonl")})
                  .exit_code,
              0);
    const Analysis analysis = analyze(temp, temp.file("scan.pcap"));
    const json& report = analysis.report;
    ASSERT_EQ(report["scans"].size(), 1u);
    EXPECT_EQ(report["scans"][0]["source"], "198.18.0.99");
    EXPECT_EQ(report["scans"][0]["ports"], 1000);
    EXPECT_EQ(report["scans"][0]["hosts"], 1);
    EXPECT_EQ(report["scans"][0]["answered"], 3);
    // Only the real client, and only the real service.
    ASSERT_EQ(report["clients"].size(), 1u);
    EXPECT_EQ(report["clients"][0]["address"], "198.18.0.1");
    ASSERT_EQ(report["services"].size(), 1u);
    EXPECT_EQ(report["services"][0]["port"], 80);
    EXPECT_EQ(report["services"][0]["connections"], truth_file(temp.file("truth.jsonl")).size());
    EXPECT_EQ(analysis.rows.size(), 1005u) << "the probes stay in the connection log";
    const RunResult text = run_ephemera({"analyze", temp.file("scan.pcap")});
    EXPECT_NE(text.out.find("198.18.0.99 scanned 1000 ports on 1 host"), std::string::npos)
        << text.out;
}

void expect_user_error(const RunResult& result, const std::string& mentions) {
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(mentions), std::string::npos) << result.err;
}

TEST(UserErrors, Garbage) {
    TempDir temp;
    std::mt19937 random(5);
    std::ofstream out(temp.file("garbage.pcap"), std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(random()));
    out.close();
    expect_user_error(run_ephemera({"analyze", temp.file("garbage.pcap")}), "garbage.pcap");
}

TEST(UserErrors, CutInsideTheGlobalHeader) {
    TempDir temp;
    std::ofstream(temp.file("cut.pcap"), std::ios::binary)
        << read_file(sample("tcp-ipv4.pcap")).substr(0, 12);
    expect_user_error(run_ephemera({"analyze", temp.file("cut.pcap")}), "cut.pcap");
}

// A pipe that closes early (tcpdump killed, `head -c`): what came before the cut is analyzed.
TEST(DamagedInput, StandardInputClosedEarly) {
    TempDir temp;
    const std::string whole = read_file(sample("tcp-ipv4.pcap"));
    std::ofstream(temp.file("half.pcap"), std::ios::binary) << whole.substr(0, whole.size() / 2);
    const RunResult result =
        run_ephemera({"analyze", "--format", "json", "-"}, temp.file("half.pcap"));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("<stdin>: capture cut off after"), std::string::npos) << result.err;
    const json report = json::parse(result.out);
    EXPECT_GT(report["connections"]["tcp"].get<int>(), 0);
    EXPECT_EQ(report["warnings"].size(), 1u);
}

// Inputs a fuzzer once found: each must now be analyzed or refused cleanly.
TEST(FuzzRegressions, EveryKeptInputIsHandled) {
    const auto dir = source_dir() / "tests" / "fuzz" / "regressions";
    std::size_t replayed = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name == "README.md" || name.rfind("decode_fuzzer-", 0) == 0) continue;
        const RunResult result =
            run_ephemera({"analyze", "--format", "json", entry.path().string()});
        EXPECT_FALSE(result.timed_out) << name;
        EXPECT_EQ(result.signal, 0) << name;
        EXPECT_TRUE(result.exit_code == 0 || result.exit_code == 2) << name << "\n" << result.err;
        ++replayed;
    }
    std::printf("replayed %zu pipeline regression inputs\n", replayed);
}

}  // namespace
}  // namespace ephemera::test

namespace ephemera::test {
namespace {

// The capture is a FIFO: the writer sends part of it, removes the path while ephemera reads, then
// sends `rest` bytes of what is left and closes. Deterministic, unlike racing a real file.
RunResult read_while_deleting(const TempDir& temp, const std::string& capture, std::size_t rest) {
    const std::string fifo = temp.file("capture.fifo");
    EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::thread writer([&] {
        std::ofstream out(fifo, std::ios::binary);  // blocks until ephemera opens it
        const std::size_t first = capture.size() / 3;
        out.write(capture.data(), static_cast<std::streamsize>(first));
        out.flush();
        std::filesystem::remove(fifo);
        out.write(capture.data() + first,
                  static_cast<std::streamsize>(std::min(rest, capture.size() - first)));
    });
    const RunResult result = run_ephemera({"analyze", "--format", "json", fifo});
    writer.join();
    return result;
}

TEST(DamagedInput, FileDeletedWhileBeingReadIsReadToTheEnd) {
    TempDir temp;
    const std::string capture = read_file(sample("tcp-ipv4.pcap"));
    const RunResult result = read_while_deleting(temp, capture, capture.size());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.err, "");
    const auto whole = json::parse(
        run_ephemera({"analyze", "--format", "json", sample("tcp-ipv4.pcap").string()}).out);
    EXPECT_EQ(json::parse(result.out)["capture"]["packets"], whole["capture"]["packets"]);
}

TEST(DamagedInput, FileTruncatedWhileBeingReadKeepsWhatCameBefore) {
    TempDir temp;
    const std::string capture = read_file(sample("tcp-ipv4.pcap"));
    const RunResult result = read_while_deleting(temp, capture, capture.size() / 3 + 7);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("capture cut off after"), std::string::npos) << result.err;
    const json report = json::parse(result.out);
    EXPECT_GT(report["capture"]["packets"].get<int>(), 0);
    EXPECT_EQ(report["warnings"].size(), 1u);
}

}  // namespace
}  // namespace ephemera::test
