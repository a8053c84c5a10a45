// tcpdump's own test captures (../shared/corpus/tcpdump-tests, many malformed on purpose): none may
// crash or hang the binary, and every accepted one must give a well-formed report. Built with
// EPHEMERA_SANITIZE=ON, this runs them all under AddressSanitizer and UBSan.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "run.hpp"

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

}  // namespace
}  // namespace ephemera::test
