// Several hosts behind one address: the NAT samples (scripts/capture-samples capture_nat) are
// three Linux hosts masqueraded by nftables behind 198.19.0.1, each with 50 connections to one
// service at the same time; their truth is what each inside host's sockets saw. Every other
// sample, and every tcpdump corpus capture, is one host per address and must not be flagged.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

constexpr const char* outside_address = "198.19.0.1";

struct NatTruth {
    std::set<std::string> inside_hosts;
    std::map<std::string, std::size_t> per_host;  // connections of each inside host
    std::size_t connections = 0;
};

NatTruth read_nat_truth(const std::string& name) {
    std::ifstream in(sample(name + ".truth.jsonl"));
    NatTruth truth;
    std::string line;
    while (std::getline(in, line)) {
        const json entry = json::parse(line);
        if (entry["outcome"] != "closed") continue;
        truth.inside_hosts.insert(entry["client"].get<std::string>());
        ++truth.per_host[entry["client"].get<std::string>()];
        ++truth.connections;
    }
    return truth;
}

const json* client_named(const json& report, const std::string& address) {
    for (const json& client : report["clients"]) {
        if (client["address"] == address) return &client;
    }
    return nullptr;
}

// Port-preserving masquerade keeps each host's own allocator: the hosts are counted exactly.
TEST(Nat, HostsBehindAPortPreservingNatAreCountedFromOutside) {
    const NatTruth truth = read_nat_truth("nat-preserving");
    ASSERT_EQ(truth.inside_hosts.size(), 3u);
    const json report = analyze_sample_json("nat-preserving.pcap");
    ASSERT_EQ(report["clients"].size(), 1u) << "outside, only the router's address is seen";
    const json& client = report["clients"][0];
    EXPECT_EQ(client["address"], outside_address);
    EXPECT_EQ(client["tcp_connections"], truth.connections);
    EXPECT_EQ(client["allocation"]["pattern"], "mixed");
    EXPECT_EQ(client["allocation"]["os_hint"], "");
    const json& shared = client["shared"];
    EXPECT_TRUE(shared["likely"].get<bool>());
    EXPECT_EQ(shared["hosts_estimate"], truth.inside_hosts.size());
    ASSERT_EQ(shared["evidence"].size(), 1u);
    EXPECT_EQ(shared["evidence"][0]["kind"], "interleaved-sequences");
}

// Random and fully random mappings hide the hosts' allocators: likely shared, count unknown (not
// a guess), with the reason.
TEST(Nat, ARandomNatIsSeenButItsHostsAreNotGuessed) {
    for (const std::string name : {"nat-random", "nat-fully-random"}) {
        SCOPED_TRACE(name);
        const json report = analyze_sample_json(name + ".pcap");
        ASSERT_EQ(report["clients"].size(), 1u);
        const json& shared = report["clients"][0]["shared"];
        EXPECT_TRUE(shared["likely"].get<bool>());
        EXPECT_TRUE(shared["hosts_estimate"].is_null());
        EXPECT_TRUE(shared["unknown_because"].is_string());
        EXPECT_EQ(shared["evidence"][0]["kind"], "translator-ports");
    }
}

// Hosts of different systems behind a fully random translator: their ports say nothing, their
// SYNs do. The sample's hosts differ in TTL and TCP options by construction (capture-samples
// capture_nat_systems); tshark reads the SYNs' TTLs and options, and each host's must be one
// fingerprint of its own. Counted from outside as at least that many: hosts alike in both would
// look like one.
TEST(Nat, HostsOfDifferentSystemsAreCountedByTheirSynsThroughARandomNat) {
    const NatTruth truth = read_nat_truth("nat-systems");
    ASSERT_EQ(truth.inside_hosts.size(), 3u);
    const RunResult tshark = run({"tshark", "-n", "-r", sample("nat-systems.pcap").string(), "-Y",
                                  "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e",
                                  "ip.ttl", "-e", "tcp.options"});
    ASSERT_EQ(tshark.exit_code, 0) << tshark.err;
    std::set<std::string> ttls;
    std::set<std::pair<std::string, std::string>> fingerprints;
    std::istringstream lines(tshark.out);
    for (std::string ttl, options; lines >> ttl >> options;) {
        ttls.insert(ttl);
        fingerprints.emplace(ttl, options.substr(0, 8));  // MSS's value aside, the layout's start
    }
    ASSERT_EQ(fingerprints.size(), truth.inside_hosts.size()) << "the sample is not as built";

    const json report = analyze_sample_json("nat-systems.pcap");
    ASSERT_EQ(report["clients"].size(), 1u);
    const json& client = report["clients"][0];
    EXPECT_EQ(client["allocation"]["os_hint"], "");
    const json& shared = client["shared"];
    EXPECT_TRUE(shared["likely"].get<bool>());
    EXPECT_EQ(shared["hosts_estimate"], truth.inside_hosts.size());
    EXPECT_TRUE(shared["hosts_estimate_is_minimum"].get<bool>());
    EXPECT_TRUE(shared["unknown_because"].is_null());
    std::map<std::string, std::string> evidence;
    for (const json& entry : shared["evidence"]) evidence[entry["kind"]] = entry["detail"];
    ASSERT_EQ(evidence.count("syn-fingerprints"), 1u);
    EXPECT_EQ(evidence.count("translator-ports"), 1u);
    for (const std::string& ttl : ttls) {
        EXPECT_NE(evidence["syn-fingerprints"].find(ttl), std::string::npos) << ttl;
    }
    // The same hosts of one system, as in nat-fully-random, stay uncounted (the test above).
}

// The router's -i any capture holds both sides: every inside host is a client of its own, one
// host each; every outside connection is paired with the inside one it carries, so the hosts
// behind the translator are counted exactly, whatever its mapping.
TEST(Nat, BothSidesOfTheTranslatorArePairedAndCounted) {
    const std::map<std::string, std::string> mappings = {{"nat-preserving", "port-preserving"},
                                                         {"nat-random", "random"},
                                                         {"nat-fully-random", "random"},
                                                         {"nat-systems", "random"}};
    for (const auto& [name, mapping] : mappings) {
        SCOPED_TRACE(name);
        const NatTruth truth = read_nat_truth(name);
        const json report = analyze_sample_json(name + "-any.pcap");
        for (const std::string& inside : truth.inside_hosts) {
            const json* client = client_named(report, inside);
            ASSERT_NE(client, nullptr) << inside;
            EXPECT_FALSE((*client)["shared"]["likely"].get<bool>()) << inside;
        }
        const json* outside = client_named(report, outside_address);
        ASSERT_NE(outside, nullptr);
        EXPECT_EQ((*outside)["tcp_connections"], truth.connections);
        EXPECT_EQ((*outside)["shared"]["hosts_estimate"], truth.inside_hosts.size());
        EXPECT_EQ((*outside)["shared"]["evidence"][0]["kind"], "both-sides");
        EXPECT_FALSE((*outside)["shared"]["hosts_estimate_is_minimum"].get<bool>());

        ASSERT_EQ(report["nat"].size(), 1u);
        const json& translation = report["nat"][0];
        EXPECT_EQ(translation["outside"], outside_address);
        EXPECT_EQ(translation["mapping"], mapping);
        EXPECT_GE(translation["paired"].get<double>(), 0.99 * truth.connections);
        std::map<std::string, std::size_t> counted;
        for (const json& host : translation["inside_hosts"]) {
            counted[host["address"]] = host["connections"].get<std::size_t>();
        }
        EXPECT_EQ(counted, truth.per_host);
    }
    // Outside only, nothing can be paired.
    EXPECT_TRUE(analyze_sample_json("nat-preserving.pcap")["nat"].empty());
}

// The connections CSV names each paired outside connection's inside socket: exactly the inside
// hosts' own sockets, each once.
TEST(Nat, TheConnectionsCsvNamesEachOutsideConnectionsInsideSocket) {
    for (const std::string name : {"nat-preserving", "nat-random", "nat-fully-random"}) {
        SCOPED_TRACE(name);
        std::set<std::pair<std::string, int>> truth;
        std::ifstream in(sample(name + ".truth.jsonl"));
        for (std::string line; std::getline(in, line);) {
            const json entry = json::parse(line);
            truth.emplace(entry["client"].get<std::string>(), entry["client_port"].get<int>());
        }
        TempDir temp;
        const std::string csv = temp.file("connections.csv");
        ASSERT_EQ(run_ephemera({"analyze", "--connections", csv, "-o", temp.file("report.txt"),
                                sample(name + "-any.pcap").string()})
                      .exit_code,
                  0);
        std::set<std::pair<std::string, int>> named;
        for (const CsvRow& row : read_csv(csv)) {
            ASSERT_EQ(row.count("nat_inside_address"), 1u);
            if (row.at("client") != outside_address) {
                EXPECT_EQ(row.at("nat_inside_address"), "") << "only outside rows are paired";
                continue;
            }
            const auto inside =
                std::make_pair(row.at("nat_inside_address"), std::stoi(row.at("nat_inside_port")));
            EXPECT_EQ(truth.count(inside), 1u) << inside.first << ":" << inside.second;
            EXPECT_TRUE(named.insert(inside).second) << "named twice";
        }
        EXPECT_EQ(named, truth);
    }
    // A capture without a translator keeps the CSV's columns as they were.
    TempDir temp;
    ASSERT_EQ(run_ephemera({"analyze", "--connections", temp.file("c.csv"), "-o",
                            temp.file("r.txt"), sample("udp.pcap").string()})
                  .exit_code,
              0);
    EXPECT_EQ(read_csv(temp.file("c.csv")).front().count("nat_inside_address"), 0u);
}

// --gateway judges the outside address's occupancy per destination against the translator's
// published limit (and its TIME_WAIT where it has one) instead of an OS range.
TEST(Nat, GatewayProfilesJudgeOccupancyAgainstTheTranslatorsLimit) {
    struct Case {
        std::string gateway;
        std::uint32_t limit;
        double time_wait_s;  // 0: the hosts' own
    };
    for (const Case& expected :
         {Case{"gcp-cloud-nat", 64, 120}, Case{"aws-nat", 55000, 0},
          Case{"azure-lb:pool=200", 256, 0}, Case{"gcp-cloud-nat:ports=1024", 1024, 120},
          Case{"linux-masquerade", 64512, 120}}) {
        SCOPED_TRACE(expected.gateway);
        const json report =
            analyze_sample_json("nat-preserving.pcap", {"--gateway", expected.gateway});
        const json& client = report["clients"][0];
        EXPECT_EQ(client["range"]["evidence"], "gateway");
        EXPECT_EQ(client["range"]["size"], expected.limit);
        const json& exhaustion = client["exhaustion"];
        if (expected.time_wait_s > 0) {
            EXPECT_EQ(exhaustion["time_wait_s"], expected.time_wait_s);
        }
        const json& service = exhaustion["services"][0];
        const double utilization = service["peak_occupied"].get<double>() / expected.limit;
        EXPECT_NEAR(service["utilization"].get<double>(), utilization, 1e-4);
        EXPECT_NEAR(service["sustainable_new_per_s"].get<double>(),
                    expected.limit / exhaustion["time_wait_s"].get<double>(), 1e-3);
        const std::string verdict = utilization >= 1.0   ? "exhausted"
                                    : utilization >= 0.8 ? "critical"
                                    : utilization >= 0.5 ? "warning"
                                                         : "ok";
        EXPECT_EQ(exhaustion["verdict"], verdict);
    }
    // ADDR=PROFILE: only that address is the translator; the inside hosts keep their ranges.
    const json both = analyze_sample_json(
        "nat-preserving-any.pcap", {"--gateway", std::string(outside_address) + "=gcp-cloud-nat"});
    for (const json& client : both["clients"]) {
        EXPECT_EQ(client["range"]["evidence"] == "gateway", client["address"] == outside_address)
            << client["address"];
    }
}

TEST(Nat, AnUnknownGatewayIsOneLine) {
    for (const char* bad : {"bogus", "aws-nat:ports=10", "azure-lb:pool=5000", "1.2.3=aws-nat"}) {
        const RunResult result =
            run_ephemera({"analyze", "--gateway", bad, sample("nat-preserving.pcap").string()});
        EXPECT_EQ(result.exit_code, 2) << bad;
        EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
        EXPECT_NE(result.err.find(bad), std::string::npos) << result.err;
    }
}

// No sample made by one host per address is flagged.
TEST(Nat, NoSingleHostSampleIsFlagged) {
    std::size_t samples = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "pcaps")) {
        const std::string file = entry.path().filename().string();
        if (file.rfind("nat-", 0) == 0 || file.find(".pcap") == std::string::npos) continue;
        const json report = analyze_sample_json(file);
        for (const json& client : report["clients"]) {
            EXPECT_FALSE(client["shared"]["likely"].get<bool>())
                << file << " " << client["address"];
        }
        ++samples;
    }
    EXPECT_GE(samples, 15u);
}

}  // namespace
}  // namespace ephemera::test
