// Tunnels around real traffic: the samples' frames wrapped by scapy in every encapsulation
// ephemera unwraps (tests/e2e/wrap_in_tunnels.py), and the generator's tunneled captures. Inside
// any tunnel, the report is the plain capture's, and the counts are tshark's.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "report_files.hpp"
#include "run.hpp"
#include "tshark.hpp"

namespace ephemera::test {
namespace {

using json = nlohmann::json;

json analyze(const std::vector<std::string>& inputs, std::vector<std::string> options = {}) {
    std::vector<std::string> args = {"analyze", "--format", "json", "--udp-timeout", "1e9"};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), inputs.begin(), inputs.end());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out);
}

// The parts of a report that describe the traffic itself, not the capture around it.
json traffic_of(const json& report) {
    return {{"connections", report["connections"]},
            {"clients", report["clients"]},
            {"services", report["services"]},
            {"scans", report["scans"]}};
}

// A Python with Debian's python3-scapy: the system's, or whichever is first on PATH.
std::string python_with_scapy() {
    for (const std::string python : {"/usr/bin/python3", "python3"}) {
        if (run({python, "-c", "import scapy.all"}).exit_code == 0) return python;
    }
    return "";
}

// What each file of wrap_in_tunnels.py should report as its outermost tunnel ("" where the
// encapsulation is a link type or a tag rather than a tunnel).
const std::map<std::string, std::string>& expected_tunnels() {
    static const std::map<std::string, std::string> tunnels = {
        {"vxlan", "vxlan"},
        {"vxlan-linux-port", "vxlan"},
        {"vxlan-gpe", "vxlan-gpe"},
        {"geneve", "geneve"},
        {"gtp-u", "gtp-u"},
        {"teredo", "teredo"},
        {"mpls-udp", "mpls-udp"},
        {"gre-key-checksum-sequence", "gre"},
        {"gre-bridged-ipv6-underlay", "gre"},
        {"erspan-ii", "gre"},
        {"erspan-iii", "gre"},
        {"ip-in-ip", "ip-in-ip"},
        {"ip-in-ipv6-with-extensions", "ip-in-ip"},
        {"mpls-stack", "mpls"},
        {"mpls-pseudowire-control-word", "mpls"},
        {"pppoe-in-vlan", "pppoe"},
        {"pbb", "pbb"},
        {"nsh", "nsh"},
        {"pim-register", "pim-register"},
        {"vn-tag", ""},
        {"macsec-integrity-only", ""},
        {"ppp-link", ""},
        {"cisco-hdlc-link", ""},
        {"wifi-radiotap", ""},
    };
    return tunnels;
}

TEST(Tunnels, EveryEncapsulationOfRealTrafficGivesThePlainReportAndTsharksCounts) {
    const std::string python = python_with_scapy();
    if (python.empty()) GTEST_SKIP() << "python3-scapy is not installed (scripts/setup)";
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    TempDir temp;
    const std::vector<std::string> samples = {sample("tcp-ipv4.pcap").string(),
                                              sample("udp.pcap").string(),
                                              sample("tcp-ipv6.pcap").string()};
    std::vector<std::string> wrap = {
        python, (source_dir() / "tests" / "e2e" / "wrap_in_tunnels.py").string(),
        temp.path().string()};
    wrap.insert(wrap.end(), samples.begin(), samples.end());
    const RunResult wrapped = run(wrap, "/dev/null", 300);
    ASSERT_EQ(wrapped.exit_code, 0) << wrapped.err;

    const json plain = traffic_of(analyze(samples));
    const json plain_ipv6 = traffic_of(analyze(samples, {"--filter", "ip6"}));  // for Teredo
    ASSERT_GT(plain["connections"]["tcp"].get<int>(), 0);
    ASSERT_GT(plain["connections"]["udp"].get<int>(), 0);
    for (const auto& [name, kind] : expected_tunnels()) {
        SCOPED_TRACE(name);
        const std::string path = temp.file(name + ".pcap");
        ASSERT_TRUE(std::filesystem::exists(path));
        const json report = analyze({path});
        EXPECT_EQ(traffic_of(report), name == "teredo" ? plain_ipv6 : plain);
        const Conversations tshark = tshark_innermost_conversations(path, {"udp.port==8472,vxlan"});
        EXPECT_EQ(report["connections"]["tcp"].get<std::size_t>(), tshark.tcp);
        EXPECT_EQ(report["connections"]["udp"].get<std::size_t>(), tshark.udp);
        if (kind.empty()) {
            EXPECT_TRUE(report["tunnels"].empty());
            continue;
        }
        ASSERT_EQ(report["tunnels"].size(), 1u);
        EXPECT_EQ(report["tunnels"][0]["kind"], kind);
        EXPECT_EQ(
            report["tunnels"][0]["inner_connections"].get<int>(),
            report["connections"]["tcp"].get<int>() + report["connections"]["udp"].get<int>());
        // Without decapsulation, no inner connection is found.
        const json outer = analyze({path}, {"--decapsulate", "none"});
        EXPECT_TRUE(outer["tunnels"].empty());
        EXPECT_NE(traffic_of(outer), traffic_of(report));
    }
}

// The same addresses in two VXLAN segments: one host each with --split-segments (the report of
// the plain capture twice over, each client and CSV row naming its segment), one host without
// (the second copy of each packet is a duplicate of the first).
TEST(Tunnels, SplitSegmentsKeepsTheSameAddressesInTwoSegmentsApart) {
    const std::string python = python_with_scapy();
    if (python.empty()) GTEST_SKIP() << "python3-scapy is not installed (scripts/setup)";
    TempDir temp;
    const std::vector<std::string> samples = {sample("tcp-ipv4.pcap").string(),
                                              sample("udp.pcap").string()};
    std::vector<std::string> wrap = {
        python, (source_dir() / "tests" / "e2e" / "wrap_in_tunnels.py").string(),
        temp.path().string()};
    wrap.insert(wrap.end(), samples.begin(), samples.end());
    ASSERT_EQ(run(wrap, "/dev/null", 300).exit_code, 0);
    const std::string path = temp.file("vxlan-two-segments.pcap");
    const json plain = traffic_of(analyze(samples));

    const json merged = analyze({path});
    EXPECT_EQ(traffic_of(merged), plain);
    for (const json& client : merged["clients"]) EXPECT_TRUE(client["segment"].is_null());

    const std::string csv = temp.file("connections.csv");
    const json split = analyze({path}, {"--split-segments", "--connections", csv});
    EXPECT_EQ(split["connections"]["tcp"], 2 * plain["connections"]["tcp"].get<int>());
    EXPECT_EQ(split["connections"]["udp"], 2 * plain["connections"]["udp"].get<int>());
    ASSERT_EQ(split["clients"].size(), 2 * plain["clients"].size());
    std::map<std::string, json> clients_by_segment;
    for (json client : split["clients"]) {
        const std::string segment = client["segment"];
        client["segment"] = nullptr;
        clients_by_segment[segment].push_back(client);
    }
    ASSERT_EQ(clients_by_segment.size(), 2u);
    EXPECT_EQ(clients_by_segment["vxlan:42"], plain["clients"]);
    EXPECT_EQ(clients_by_segment["vxlan:43"], plain["clients"]);
    for (const json& service : split["services"]) EXPECT_FALSE(service["segment"].is_null());

    const std::vector<CsvRow> rows = read_csv(csv);
    ASSERT_EQ(rows.size(), 2 * (plain["connections"]["tcp"].get<std::size_t>() +
                                plain["connections"]["udp"].get<std::size_t>()));
    std::map<std::string, std::size_t> rows_by_segment;
    for (const CsvRow& row : rows) ++rows_by_segment[row.at("segment")];
    EXPECT_EQ(rows_by_segment["vxlan:42"], rows.size() / 2);
    EXPECT_EQ(rows_by_segment["vxlan:43"], rows.size() / 2);
}

// ephemera-gen's --encapsulate: the same connections, the same report, one tunnel with its id.
TEST(Tunnels, GeneratedTunnelsGiveThePlainReport) {
    TempDir temp;
    const std::string plain_path = temp.file("plain.pcap");
    ASSERT_EQ(run_generator({"connections", plain_path, "--clients", "4"}).exit_code, 0);
    const json plain = traffic_of(analyze({plain_path}));
    for (const std::string kind : {"vxlan", "geneve", "gre", "mpls"}) {
        SCOPED_TRACE(kind);
        const std::string path = temp.file(kind + ".pcap");
        ASSERT_EQ(
            run_generator({"connections", path, "--clients", "4", "--encapsulate", kind}).exit_code,
            0);
        const json report = analyze({path});
        EXPECT_EQ(traffic_of(report), plain);
        ASSERT_EQ(report["tunnels"].size(), 1u);
        EXPECT_EQ(report["tunnels"][0]["kind"], kind);
        EXPECT_EQ(report["tunnels"][0]["id"], 42);
        EXPECT_EQ(report["tunnels"][0]["packets"], report["capture"]["packets"]);
        EXPECT_EQ(report["tunnels"][0]["inner_connections"], report["connections"]["tcp"]);
    }
}

}  // namespace
}  // namespace ephemera::test
