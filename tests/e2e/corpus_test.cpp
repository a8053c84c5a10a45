// tcpdump's own test captures (../shared/corpus/tcpdump-tests, many malformed on purpose): none may
// crash or hang the binary, every accepted one must give a well-formed report, and none of their
// clients is taken for several hosts behind one address. Built with
// EPHEMERA_SANITIZE=ON, this runs them all under AddressSanitizer and UBSan.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "run.hpp"
#include "tshark.hpp"

namespace ephemera::test {
namespace {

std::filesystem::path corpus_dir() {
    if (const char* override_dir = std::getenv("EPHEMERA_CORPUS")) return override_dir;
    return source_dir() / ".." / "shared" / "corpus" / "tcpdump-tests";
}

TEST(TcpdumpCorpus, NoCaptureCrashesOrHangs) {
    const std::filesystem::path dir = corpus_dir();
    if (!std::filesystem::is_directory(dir)) {
        GTEST_SKIP() << "corpus not found at " << dir << " (set EPHEMERA_CORPUS): skipped";
    }
    std::size_t analyzed = 0;
    std::size_t rejected = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        const std::string path = entry.path().string();
        const RunResult result =
            run_ephemera({"analyze", "--format", "json", path}, "/dev/null", 30);
        ASSERT_FALSE(result.timed_out) << path << " hung";
        ASSERT_EQ(result.signal, 0) << path << " crashed\n" << result.err;
        ASSERT_TRUE(result.exit_code == 0 || result.exit_code == 2)
            << path << " exit " << result.exit_code << "\n"
            << result.err;
        if (result.exit_code == 2) {
            ++rejected;
            EXPECT_EQ(result.out, "") << path;
            continue;
        }
        ++analyzed;
        const auto report = nlohmann::json::parse(result.out, nullptr, false);
        ASSERT_FALSE(report.is_discarded()) << path << " wrote invalid JSON";
        EXPECT_EQ(report["schema"], "ephemera.report.v2") << path;
        // Every client here is one host (issue #24): none may be taken for several behind a NAT.
        for (const auto& client : report["clients"]) {
            EXPECT_FALSE(client["shared"]["likely"].get<bool>())
                << path << " " << client["address"];
        }
    }
    EXPECT_GT(analyzed, 0u);
    std::printf("corpus: %zu analyzed, %zu rejected as unreadable\n", analyzed, rejected);
}

}  // namespace
}  // namespace ephemera::test

namespace ephemera::test {
namespace {

std::size_t tshark_conversations(const std::string& path, const char* protocol) {
    const RunResult tshark =
        run({"tshark", "-n", "-q", "-z", std::string("conv,") + protocol, "-r", path});
    std::size_t conversations = 0;
    for (std::size_t at = tshark.out.find("<->"); at != std::string::npos;
         at = tshark.out.find("<->", at + 3)) {
        ++conversations;
    }
    return conversations;
}

// Real captures of the link types the samples cannot make here (raw IP, IPv4, BSD loopback):
// the TCP connection count agrees with tshark's conversation table.
TEST(TcpdumpCorpus, RawAndLoopbackLinkTypesAgreeWithTshark) {
    const std::filesystem::path dir = corpus_dir();
    if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "corpus not found at " << dir;
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    const std::pair<const char*, const char*> captures[] = {
        {"bgp-addpath.pcap", "RAW"},
        {"mptcp-tcprst.pcap", "RAW"},
        {"scps_invalid.pcap", "IPV4"},
        {"tcp_rst_diag_payload.pcap", "NULL"},
    };
    for (const auto& [name, link_type] : captures) {
        const std::string path = (dir / name).string();
        const RunResult result = run_ephemera({"analyze", "--format", "json", path});
        ASSERT_EQ(result.exit_code, 0) << name << result.err;
        const auto report = nlohmann::json::parse(result.out);
        EXPECT_EQ(report["capture"]["inputs"][0]["link_type"], link_type) << name;
        const std::size_t conversations = tshark_conversations(path, "tcp");
        EXPECT_GT(conversations, 0u) << name;
        EXPECT_EQ(report["connections"]["tcp"].get<std::size_t>(), conversations) << name;
    }
}

// Tunneled captures from tcpdump's suite: the inner TCP connections are found, as tshark finds
// them, and the report says which tunnel they came through. Without decapsulation, only the
// outer packets: no inner TCP, and the tunnel's UDP between its endpoints.
TEST(TcpdumpCorpus, TunneledCapturesAgreeWithTshark) {
    const std::filesystem::path dir = corpus_dir();
    if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "corpus not found at " << dir;
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    const std::pair<const char*, const char*> captures[] = {
        {"geneve.pcap", "geneve"},
        {"geneve-gcp.pcap", "geneve"},
        {"gso-ipv4-vxlan-ipv4.pcap", "vxlan"},
        {"gso-ipv6-vxlan-ipv6.pcap", "vxlan"},
        {"gso-ipv4-geneve-ipv6.pcap", "geneve"},
        {"gso-ipv6-geneve-ipv4.pcap", "geneve"},
        {"wccp_redirect_gre.pcap", "gre"},
    };
    for (const auto& [name, kind] : captures) {
        const std::string path = (dir / name).string();
        const RunResult result = run_ephemera({"analyze", "--format", "json", path});
        ASSERT_EQ(result.exit_code, 0) << name << result.err;
        const auto report = nlohmann::json::parse(result.out);
        const std::size_t conversations = tshark_conversations(path, "tcp");
        EXPECT_GT(conversations, 0u) << name;
        EXPECT_EQ(report["connections"]["tcp"].get<std::size_t>(), conversations) << name;
        ASSERT_FALSE(report["tunnels"].empty()) << name;
        EXPECT_EQ(report["tunnels"][0]["kind"], kind) << name;
        EXPECT_FALSE(report["tunnels"][0]["outer"].is_null()) << name;

        const auto outer = nlohmann::json::parse(
            run_ephemera({"analyze", "--format", "json", "--decapsulate", "none", path}).out);
        EXPECT_TRUE(outer["tunnels"].empty()) << name;
        EXPECT_EQ(outer["connections"]["tcp"], 0) << name;
    }
}

// Captures of tcpdump's suite whose counts differ from tshark's for a reason other than a
// decoder ephemera lacks. A capture that comes to agree must leave the list.
const std::map<std::string, std::string>& known_differences() {
    static const std::map<std::string, std::string> differences = {
        {"LINKTYPE_IPV4_invalid.pcap",
         "an IPv6 packet in a LINKTYPE_IPV4 file (tcpdump's test calls it invalid): ephemera "
         "skips it as bad-ip-header, tshark dissects it by its version nibble"},
        {"babel_update_oobr.pcap",
         "fuzzed timestamps jump between 1970 and 2038: ephemera ends a UDP flow when its next "
         "datagram is further away than --udp-timeout or before the flow's end, tshark keeps one "
         "conversation per address pair whatever the times"},
        {"of13_ericsson.pcapng",
         "an OpenFlow PACKET_IN message carries a copy of a UDP datagram to the controller inside "
         "its TCP session: tshark counts the copy, ephemera the OpenFlow TCP session only"},
        {"sflow_expanded.pcap",
         "an sFlow datagram (UDP 6343) carries a sampled TCP header: tshark counts the sample, "
         "ephemera the sFlow datagram itself"},
        {"tcp_header_heapoverflow.pcap",
         "a 12-byte TCP header (cut before its flags): ephemera skips it as truncated-tcp, tshark "
         "reads its ports"},
        {"udp-length-heapoverflow.pcap",
         "a 4-byte UDP header: ephemera skips it as truncated-udp, tshark reads its ports"},
    };
    return differences;
}

bool is_big_tcp(const std::string& name) {
    return name.rfind("bigtcp-", 0) == 0;
}

struct CorpusComparison {
    std::string name;
    Conversations tshark;
    Conversations ephemera;
    bool analyzed = false;
};

CorpusComparison compare_with_tshark(const std::filesystem::path& path) {
    CorpusComparison comparison;
    comparison.name = path.filename().string();
    // Linux's VXLAN port is not one tshark knows by default.
    comparison.tshark = tshark_innermost_conversations(path.string(), {"udp.port==8472,vxlan"});
    // tshark keeps one UDP conversation however long the silences: so does a huge timeout.
    const RunResult result =
        run_ephemera({"analyze", "--format", "json", "--udp-timeout", "1e9", path.string()});
    if (result.exit_code != 0) return comparison;
    const auto report = nlohmann::json::parse(result.out, nullptr, false);
    if (report.is_discarded()) return comparison;
    comparison.analyzed = true;
    comparison.ephemera = {report["connections"]["tcp"].get<std::size_t>(),
                           report["connections"]["udp"].get<std::size_t>()};
    return comparison;
}

// Every capture of tcpdump's suite: ephemera's TCP and UDP connections are tshark's innermost
// conversations, or the capture is a known difference with its reason. BIG TCP captures (an IPv4
// total length of 0, an IPv6 payload length of 0 without a jumbo option: how Linux hands
// segments over 64 KiB to a capture) are the one family where tshark stops at the IP header
// while ephemera reads the TCP inside (tshark reads some of them), so for those ephemera must
// find its connection and at least tshark's.
TEST(TcpdumpCorpus, EveryCaptureAgreesWithTshark) {
    const std::filesystem::path dir = corpus_dir();
    if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "corpus not found at " << dir;
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    if (EPHEMERA_SANITIZED) {
        GTEST_SKIP() << "compared in the normal build; this one runs the corpus for crashes";
    }
    std::vector<std::filesystem::path> paths;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file()) paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    std::vector<CorpusComparison> comparisons(paths.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t i = next++; i < paths.size(); i = next++) {
            comparisons[i] = compare_with_tshark(paths[i]);
        }
    };
    std::vector<std::future<void>> workers;
    for (int i = 0; i < 3; ++i) workers.push_back(std::async(std::launch::async, worker));
    for (auto& running : workers) running.get();

    std::size_t agreeing = 0;
    std::size_t with_connections = 0;
    for (const CorpusComparison& comparison : comparisons) {
        const bool tshark_found = comparison.tshark.tcp + comparison.tshark.udp > 0;
        if (!comparison.analyzed) {
            EXPECT_FALSE(tshark_found) << comparison.name << " was refused; tshark found "
                                       << comparison.tshark.tcp << " TCP conversations";
            continue;
        }
        with_connections += tshark_found ? 1 : 0;
        const bool same = comparison.tshark.tcp == comparison.ephemera.tcp &&
                          comparison.tshark.udp == comparison.ephemera.udp;
        const auto known = known_differences().find(comparison.name);
        const std::string counts = " (tshark " + std::to_string(comparison.tshark.tcp) + " TCP " +
                                   std::to_string(comparison.tshark.udp) + " UDP, ephemera " +
                                   std::to_string(comparison.ephemera.tcp) + " TCP " +
                                   std::to_string(comparison.ephemera.udp) + " UDP)";
        if (known != known_differences().end()) {
            EXPECT_FALSE(same) << comparison.name << " now agrees: take it off the list";
        } else if (is_big_tcp(comparison.name)) {
            EXPECT_GT(comparison.ephemera.tcp, 0u) << comparison.name << counts;
            EXPECT_GE(comparison.ephemera.tcp, comparison.tshark.tcp) << comparison.name << counts;
        } else {
            EXPECT_TRUE(same) << comparison.name << counts;
            agreeing += same ? 1 : 0;
        }
    }
    EXPECT_GT(with_connections, 300u);
    std::printf("corpus: %zu captures agree with tshark, %zu known differences\n", agreeing,
                known_differences().size());
}

}  // namespace
}  // namespace ephemera::test
