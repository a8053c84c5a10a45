// Several hosts behind one address: the NAT samples (scripts/capture-samples capture_nat) are
// three Linux hosts masqueraded by nftables behind 198.19.0.1, each with 50 connections to one
// service at the same time; their truth is what each inside host's sockets saw. Every other
// sample, and every tcpdump corpus capture, is one host per address and must not be flagged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

constexpr const char* outside_address = "198.19.0.1";

struct NatTruth {
    std::set<std::string> inside_hosts;
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
        ++truth.connections;
    }
    return truth;
}

json analyze(const std::string& file) {
    const RunResult result = run_ephemera({"analyze", "--format", "json", sample(file).string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out);
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
    const json report = analyze("nat-preserving.pcap");
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
        const json report = analyze(name + ".pcap");
        ASSERT_EQ(report["clients"].size(), 1u);
        const json& shared = report["clients"][0]["shared"];
        EXPECT_TRUE(shared["likely"].get<bool>());
        EXPECT_TRUE(shared["hosts_estimate"].is_null());
        EXPECT_TRUE(shared["unknown_because"].is_string());
        EXPECT_EQ(shared["evidence"][0]["kind"], "translator-ports");
    }
}

// The router's -i any capture holds both sides: every inside host is a client of its own, one
// host each, and the outside address is judged as from outside.
TEST(Nat, BothSidesOfTheTranslatorInOneCapture) {
    for (const std::string name : {"nat-preserving", "nat-random", "nat-fully-random"}) {
        SCOPED_TRACE(name);
        const NatTruth truth = read_nat_truth(name);
        const json report = analyze(name + "-any.pcap");
        for (const std::string& inside : truth.inside_hosts) {
            const json* client = client_named(report, inside);
            ASSERT_NE(client, nullptr) << inside;
            EXPECT_FALSE((*client)["shared"]["likely"].get<bool>()) << inside;
        }
        const json* outside = client_named(report, outside_address);
        ASSERT_NE(outside, nullptr);
        EXPECT_TRUE((*outside)["shared"]["likely"].get<bool>());
        EXPECT_EQ((*outside)["tcp_connections"], truth.connections);
    }
}

// No sample made by one host per address is flagged.
TEST(Nat, NoSingleHostSampleIsFlagged) {
    std::size_t samples = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "pcaps")) {
        const std::string file = entry.path().filename().string();
        if (file.rfind("nat-", 0) == 0 || file.find(".pcap") == std::string::npos) continue;
        const json report = analyze(file);
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
