// Port allocation, reuse and exhaustion on captures whose answers are known by construction
// (scripts/capture-samples says how each was made; pcaps/README.md lists them).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

struct TruthCounts {
    std::size_t connected = 0;  // connections that sent packets and completed
    std::map<std::string, std::size_t> outcomes;
    std::set<int> ports;
};

TruthCounts count_truth(const std::string& name) {
    std::ifstream in(sample(name + ".truth.jsonl"));
    TruthCounts counts;
    std::string line;
    while (std::getline(in, line)) {
        const json entry = json::parse(line);
        ++counts.outcomes[entry["outcome"]];
        if (entry["outcome"] == "closed") {
            ++counts.connected;
            counts.ports.insert(entry["client_port"].get<int>());
        }
    }
    return counts;
}

std::string analyze_text(const std::string& file) {
    const RunResult result = run_ephemera({"analyze", sample(file).string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
}

const json& only_client(const json& report) {
    EXPECT_EQ(report["clients"].size(), 1u);
    return report["clients"][0];
}

// 40 connections to one service through an 8-port range with tcp_tw_reuse=1.
TEST(PortUse, TimeWaitReuseInANarrowRange) {
    const TruthCounts truth = count_truth("tw-reuse");
    ASSERT_EQ(truth.ports.size(), 8u);
    const json client = only_client(analyze_sample_json("tw-reuse.pcap"));
    EXPECT_EQ(client["range"]["low"], *truth.ports.begin());
    EXPECT_EQ(client["range"]["high"], *truth.ports.rbegin());
    EXPECT_EQ(client["range"]["size"], 8);
    EXPECT_EQ(client["range"]["basis"], "observed");

    const std::size_t reuses = truth.connected - truth.ports.size();
    const json& reuse = client["reuse"];
    EXPECT_EQ(reuse["tuple_reuses"], reuses);
    EXPECT_EQ(reuse["port_reuses"], reuses);
    // The whole capture lasts seconds: every reuse came within the 60 s of TIME_WAIT.
    EXPECT_EQ(reuse["time_wait_reuses"], reuses);
    EXPECT_EQ(reuse["active_reuses"], 0);
    // Linux lets a client take over its TIME_WAIT 4-tuple only after 1 s (tcp_twsk_unique).
    EXPECT_GE(reuse["min_port_reuse_interval_s"].get<double>(), 1.0);

    const json& destination = client["exhaustion"]["services"][0];
    EXPECT_EQ(destination["port"], 8080);
    EXPECT_EQ(destination["peak_occupied"], 8);
    EXPECT_EQ(destination["verdict"], "exhausted");

    const std::string text = analyze_text("tw-reuse.pcap");
    EXPECT_NE(text.find("8 of 8 ports occupied"), std::string::npos) << text;
    EXPECT_NE(text.find(std::to_string(reuses) + " 4-tuples were reused while TIME_WAIT"),
              std::string::npos)
        << text;
}

// 16 connections held open to each of three services through a 16-port range; two more
// attempts per service failed in connect() without a packet.
TEST(PortUse, ExhaustedRangePerDestination) {
    const TruthCounts truth = count_truth("exhausted");
    EXPECT_EQ(truth.connected, 48u);
    EXPECT_EQ(truth.outcomes.at("local-failure"), 6u);
    const json client = only_client(analyze_sample_json("exhausted.pcap"));
    EXPECT_EQ(client["tcp_connections"], truth.connected) << "local failures send nothing";
    EXPECT_EQ(client["range"]["size"], 16);
    EXPECT_EQ(client["range"]["low"], *truth.ports.begin());
    EXPECT_EQ(client["range"]["high"], *truth.ports.rbegin());
    EXPECT_EQ(client["exhaustion"]["peak_open_total"], 48);
    EXPECT_EQ(client["exhaustion"]["verdict"], "exhausted");
    EXPECT_DOUBLE_EQ(client["exhaustion"]["utilization"].get<double>(), 1.0);
    const json& destinations = client["exhaustion"]["services"];
    ASSERT_EQ(destinations.size(), 3u);
    std::set<int> ports;
    for (const json& destination : destinations) {
        ports.insert(destination["port"].get<int>());
        EXPECT_EQ(destination["peak_open"], 16);
        EXPECT_EQ(destination["peak_occupied"], 16);
        EXPECT_EQ(destination["verdict"], "exhausted");
        EXPECT_NEAR(destination["sustainable_new_per_s"].get<double>(), 16 / 60.0, 1e-3);
    }
    EXPECT_EQ(ports, (std::set<int>{8080, 8081, 8082}));

    const std::string text = analyze_text("exhausted.pcap");
    EXPECT_NE(text.find("-> 198.18.0.2:8081/tcp: 16 of 16 ports occupied"), std::string::npos)
        << text;
    EXPECT_NE(text.find("exhausted: the next connect() fails with EADDRNOTAVAIL"),
              std::string::npos);
}

TEST(PortUse, RangeOverrideAndThresholds) {
    const json wide =
        only_client(analyze_sample_json("exhausted.pcap", {"--range", "198.18.0.1=41000-41099"}));
    EXPECT_EQ(wide["range"]["basis"], "configured");
    EXPECT_EQ(wide["range"]["size"], 100);
    EXPECT_EQ(wide["exhaustion"]["verdict"], "ok");  // 16 of 100
    const json strict = only_client(analyze_sample_json(
        "exhausted.pcap", {"--range", "41000-41099", "--thresholds", "0.1,0.15,0.9"}));
    EXPECT_EQ(strict["exhaustion"]["verdict"], "critical");  // 16 of 100 >= 0.15
    const json short_wait =
        only_client(analyze_sample_json("exhausted.pcap", {"--time-wait", "30"}));
    EXPECT_EQ(short_wait["exhaustion"]["time_wait_s"], 30.0);
    EXPECT_NEAR(short_wait["exhaustion"]["services"][0]["sustainable_new_per_s"].get<double>(),
                16 / 30.0, 1e-3);
    for (const char* bad : {"--range=5-1", "--range=banana=1-2", "--thresholds=0.9,0.5,1"}) {
        const RunResult result = run_ephemera({"analyze", bad, sample("exhausted.pcap").string()});
        EXPECT_EQ(result.exit_code, 2) << bad;
        EXPECT_EQ(result.out, "");
    }
}

TEST(PortUse, ApplicationBindingSequentialPorts) {
    const json allocation = only_client(analyze_sample_json("bind-sequential.pcap"))["allocation"];
    EXPECT_EQ(allocation["pattern"], "sequential");
    EXPECT_NE(analyze_text("bind-sequential.pcap").find(" sequential ("), std::string::npos);
    EXPECT_GT(allocation["confidence"].get<double>(), 0.5);
    EXPECT_EQ(allocation["samples"], 40);
}

TEST(PortUse, ApplicationBindingRandomPorts) {
    const json allocation = only_client(analyze_sample_json("bind-random.pcap"))["allocation"];
    EXPECT_EQ(allocation["pattern"], "random");
    EXPECT_NE(analyze_text("bind-random.pcap").find(" random ("), std::string::npos);
    EXPECT_GT(allocation["confidence"].get<double>(), 0.5);
}

// The kernel's own allocator (Linux >= 5.12), default range, two services interleaved.
TEST(PortUse, LinuxDefaultIsPerDestination) {
    const TruthCounts truth = count_truth("linux-default");
    const json client = only_client(analyze_sample_json("linux-default.pcap"));
    EXPECT_EQ(client["range"]["basis"], "linux");
    EXPECT_EQ(client["range"]["low"], 32768);
    EXPECT_EQ(client["range"]["high"], 60999);
    EXPECT_EQ(client["allocation"]["pattern"], "per-destination");
    EXPECT_EQ(client["allocation"]["os_hint"], "linux");
    std::size_t even = 0;
    for (int port : truth.ports) even += port % 2 == 0;
    EXPECT_DOUBLE_EQ(client["allocation"]["even_share"].get<double>(),
                     static_cast<double>(even) / truth.ports.size());
    EXPECT_EQ(client["exhaustion"]["verdict"], "ok");
    const std::string text = analyze_text("linux-default.pcap");
    EXPECT_NE(text.find("32768-60999 linux"), std::string::npos) << text;
    EXPECT_NE(text.find(" per-destination ("), std::string::npos) << text;
    EXPECT_EQ(text.find("Findings, worst first\n  - 198.18.0.1"), std::string::npos)
        << "nothing wrong with this client";
}

// SYNs to a closed port (RST) and to a port whose SYNs are dropped.
TEST(PortUse, RefusedAndUnansweredAttempts) {
    const TruthCounts truth = count_truth("failures");
    const json client = only_client(analyze_sample_json("failures.pcap"));
    EXPECT_EQ(client["failures"]["refused"], truth.outcomes.at("refused"));
    EXPECT_EQ(client["failures"]["unanswered"], truth.outcomes.at("unanswered"));
    EXPECT_EQ(client["tcp_connections"],
              truth.outcomes.at("refused") + truth.outcomes.at("unanswered") + truth.connected);
    const std::string text = analyze_text("failures.pcap");
    const std::string sentence = "198.18.0.1: " + std::to_string(truth.outcomes.at("refused")) +
                                 " connection attempts refused (answered by RST), " +
                                 std::to_string(truth.outcomes.at("unanswered")) +
                                 " connection attempts unanswered (";
    EXPECT_NE(text.find(sentence), std::string::npos) << text;
    if (!have_program("tshark"))
        GTEST_SKIP() << "tshark is not installed: retransmissions unchecked";
    const RunResult tshark =
        run({"tshark", "-n", "-r", sample("failures.pcap").string(), "-Y",
             "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.analysis.retransmission"});
    ASSERT_EQ(tshark.exit_code, 0) << tshark.err;
    const auto retransmissions = std::count(tshark.out.begin(), tshark.out.end(), '\n');
    EXPECT_GT(retransmissions, 0);
    EXPECT_EQ(client["failures"]["syn_retransmissions"], retransmissions);
}

}  // namespace
}  // namespace ephemera::test
