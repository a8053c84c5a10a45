// Verdicts a user can trust: the range says how sure it is and warns when a configured one does
// not fit; UDP occupancy is measured; nothing measured is "unknown", never "ok"; findings are
// findings; the allocation column says why it is unknown; tables fit 100 columns; colour only
// where asked for. Expectations come from how the samples were made (pcaps/README.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

json report_of(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"analyze", "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(sample(name).string());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? json::parse(result.out) : json();
}

std::string text_of(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"analyze"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(sample(name).string());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The lines of the findings section, without their bullets.
std::vector<std::string> findings_of(const std::string& text) {
    std::vector<std::string> findings;
    bool inside = false;
    for (const std::string& line : lines_of(text)) {
        if (line == "Findings, worst first") {
            inside = true;
        } else if (inside && line.rfind("  - ", 0) == 0) {
            findings.push_back(line.substr(4));
        } else if (inside) {
            break;
        }
    }
    return findings;
}

std::vector<std::string> samples() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "pcaps")) {
        if (entry.path().extension() == ".pcap") names.push_back(entry.path().filename());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// exhausted.pcap filtered to one service: 16 ports, each used once. The range is Linux's
// default by assumption; the report says so, which other defaults fit, and what the verdict
// would be were the 16 ports the whole range (as they are: the sample's range was narrowed).
TEST(Ranges, AnAssumedRangeSaysSo) {
    const json client = report_of("exhausted.pcap", {"--filter", "tcp port 8081"})["clients"][0];
    EXPECT_EQ(client["range"]["evidence"], "os-default");
    EXPECT_EQ(client["range"]["basis"], "linux");
    EXPECT_EQ(client["range"]["ports_seen"], 16);
    EXPECT_EQ(client["range"]["seen_low"], 41000);
    EXPECT_EQ(client["range"]["seen_high"], 41015);
    EXPECT_EQ(client["range"]["fits"][0], "linux");
    EXPECT_GE(client["range"]["fits"].size(), 2u);
    const std::string text = text_of("exhausted.pcap", {"--filter", "tcp port 8081"});
    const std::vector<std::string> findings = findings_of(text);
    ASSERT_EQ(findings.size(), 1u) << text;
    EXPECT_NE(findings[0].find("range 32768-60999 assumed (linux's default)"), std::string::npos);
    EXPECT_NE(findings[0].find("16 of its 16 ports were occupied at once"), std::string::npos);
    EXPECT_NE(text.find(" linux? "), std::string::npos) << text;
    // Unfiltered, the ports cycle: the range is what they show, for certain.
    EXPECT_EQ(report_of("exhausted.pcap")["clients"][0]["range"]["evidence"], "cycled");
}

// A configured range the ports do not fit is not trusted silently: the first finding says so.
TEST(Ranges, AConfiguredRangeThePortsDoNotFitIsTheFirstFinding) {
    const json client = report_of("exhausted.pcap", {"--range", "50000-50010"})["clients"][0];
    EXPECT_EQ(client["range"]["evidence"], "configured");
    EXPECT_EQ(client["range"]["outside"], 16);
    const std::vector<std::string> findings =
        findings_of(text_of("exhausted.pcap", {"--range", "50000-50010"}));
    ASSERT_FALSE(findings.empty());
    EXPECT_NE(findings[0].find("16 of the 16 ports it was seen using (41000-41015) lie outside "
                               "the configured range 50000-50010"),
              std::string::npos)
        << findings[0];
    // A range that holds them draws no such finding.
    const json fits = report_of("exhausted.pcap", {"--range", "41000-41015"})["clients"][0];
    EXPECT_EQ(fits["range"]["outside"], 0);
}

// The range's basis and the OS hint never contradict each other: an OS default range belongs to
// one of the systems the hint names. bind-random.pcap's application draws random ports from
// Linux's range: a random allocator's systems (FreeBSD, Solaris) do not fit, so there is no hint,
// and a note says why.
TEST(Ranges, BasisAndOsHintAgreeOnEverySample) {
    const json bound = report_of("bind-random.pcap")["clients"][0];
    EXPECT_EQ(bound["allocation"]["pattern"], "random");
    EXPECT_EQ(bound["range"]["basis"], "linux");
    EXPECT_EQ(bound["allocation"]["os_hint"], "");
    EXPECT_NE(bound["allocation"]["os_hint_note"].get<std::string>().find("linux's default"),
              std::string::npos);
    std::size_t hinted = 0;
    for (const std::string& name : samples()) {
        const json report = report_of(name);
        for (const json& client : report["clients"]) {
            const std::string hint = client["allocation"]["os_hint"];
            if (client["range"]["evidence"] != "os-default" || hint.empty()) continue;
            ++hinted;
            const std::string basis = client["range"]["basis"];
            const std::string profile = basis == "iana" ? "macos" : basis;
            EXPECT_NE(hint.find(profile), std::string::npos)
                << name << " " << client["address"] << ": basis " << basis << ", hint " << hint;
        }
    }
    EXPECT_GE(hinted, 2u);  // tcp-ipv4 and linux-default: Linux, per destination
}

// udp-exhausted.pcap: 16 connected UDP sockets held at once on a 16-port range, towards each of
// two service ports in turn (pcaps/README.md). UDP occupancy is measured like TCP's.
TEST(UdpOccupancy, HeldUdpSocketsFillTheRange) {
    const std::vector<Conversation> truth = read_truth("udp-exhausted");
    ASSERT_EQ(truth.size(), 32u);
    const json client = report_of("udp-exhausted.pcap")["clients"][0];
    EXPECT_EQ(client["udp_flows"], 32);
    EXPECT_EQ(client["range"]["size"], 16);
    EXPECT_EQ(client["exhaustion"]["verdict"], "exhausted");
    EXPECT_EQ(client["exhaustion"]["udp_peak_occupied_total"], 16);
    ASSERT_EQ(client["exhaustion"]["services"].size(), 2u);
    for (const json& service : client["exhaustion"]["services"]) {
        EXPECT_EQ(service["protocol"], "udp");
        EXPECT_EQ(service["peak_occupied"], 16);
        EXPECT_EQ(service["verdict"], "exhausted");
        EXPECT_TRUE(service["sustainable_new_per_s"].is_null());
    }
    const std::vector<std::string> findings = findings_of(text_of("udp-exhausted.pcap"));
    ASSERT_FALSE(findings.empty());
    EXPECT_NE(findings[0].find("5300/udp: 16 of 16 ports occupied"), std::string::npos);
    EXPECT_NE(findings[0].find("EAGAIN"), std::string::npos);
}

// UDP-only clients are measured, not "ok" by default: udp.pcap's flows ran one at a time.
TEST(UdpOccupancy, UdpOnlyClientsAreMeasured) {
    const json report = report_of("udp.pcap");
    for (const json& client : report["clients"]) {
        EXPECT_EQ(client["tcp_connections"], 0);
        ASSERT_FALSE(client["exhaustion"]["services"].empty());
        EXPECT_EQ(client["exhaustion"]["services"][0]["peak_occupied"], 1);
        EXPECT_EQ(client["exhaustion"]["udp_peak_occupied_total"], 1);
    }
}

// A client that used no ephemeral port (DHCP's 68 -> 67) has nothing to measure: "unknown".
TEST(UdpOccupancy, NothingMeasuredIsUnknownNeverOk) {
    const auto dhcp =
        source_dir() / ".." / "shared" / "corpus" / "tcpdump-tests" / "dhcp-rfc3004.pcap";
    if (!std::filesystem::exists(dhcp)) GTEST_SKIP() << "../shared/corpus is not here";
    const RunResult result = run_ephemera({"analyze", "--format", "json", dhcp.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const json report = json::parse(result.out);
    ASSERT_FALSE(report["clients"].empty());
    for (const json& client : report["clients"]) {
        EXPECT_EQ(client["exhaustion"]["verdict"], "unknown") << client["address"];
        EXPECT_EQ(client["range"]["evidence"], "none");
        EXPECT_TRUE(client["range"]["low"].is_null());
    }
    const RunResult text = run_ephemera({"analyze", dhcp.string()});
    EXPECT_EQ(text.out.find("% ok"), std::string::npos) << text.out;
}

// Skipped ARP and ICMP are a line of capture statistics, not a finding; a healthy capture has
// none, and says so in the words the HTML report uses too.
TEST(Findings, SkippedPacketsAreStatisticsNotFindings) {
    const std::string healthy = text_of("tcp-ipv4.pcap");
    EXPECT_NE(healthy.find("\nFindings: nothing to report"), std::string::npos) << healthy;
    const std::string exhausted = text_of("exhausted.pcap");
    EXPECT_NE(exhausted.find("  3 packets without TCP/UDP ports skipped: non-ip 2, "
                             "unsupported-transport 1\n"),
              exhausted.find("\nFindings"))
        << exhausted;
    EXPECT_LT(exhausted.find("packets without TCP/UDP ports"), exhausted.find("\nFindings"));
    for (const std::string& finding : findings_of(exhausted)) {
        EXPECT_EQ(finding.find("skipped"), std::string::npos) << finding;
    }
}

TEST(Findings, AFilterThatMatchesNothingIsAWarning) {
    const json report = report_of("exhausted.pcap", {"--filter", "udp port 9"});
    EXPECT_EQ(report["capture"]["packets"], 0);
    ASSERT_EQ(report["warnings"].size(), 1u);
    EXPECT_NE(report["warnings"][0].get<std::string>().find("matched no packet"),
              std::string::npos);
    const std::vector<std::string> findings =
        findings_of(text_of("exhausted.pcap", {"--filter", "udp port 9"}));
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_NE(findings[0].find("the filter 'udp port 9' matched no packet"), std::string::npos);
}

// The allocation column says why it is unknown, and names its number.
TEST(Findings, AllocationSaysWhyItIsUnknown) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"exhausted.pcap", "unknown: no pattern"},  {"udp.pcap", "unknown: no TCP"},
        {"midstream.pcap", "unknown: no SYN seen"}, {"failures.pcap", "unknown: 8 SYNs < 20"},
        {"tcp-ipv4.pcap", "per-destination (0."},
    };
    for (const auto& [name, words] : cases) {
        const std::string text = text_of(name);
        EXPECT_NE(text.find("allocation (confidence)"), std::string::npos) << name;
        EXPECT_NE(text.find(words), std::string::npos) << name << "\n" << text;
    }
    const json client = report_of("midstream.pcap")["clients"][0];
    EXPECT_EQ(client["allocation"]["unknown_because"], "no-handshakes");
}

// Tables fit 100 columns where every client is IPv4 (findings are sentences, and wrap).
TEST(Layout, TablesFitAHundredColumns) {
    for (const std::string& name : samples()) {
        const json report = report_of(name);
        bool ipv6 = false;
        for (const json& client : report["clients"]) {
            ipv6 = ipv6 || client["address"].get<std::string>().find(':') != std::string::npos;
        }
        if (ipv6) continue;
        for (const std::string& line : lines_of(text_of(name))) {
            if (line.rfind("  - ", 0) == 0 || line.rfind("  ", 0) != 0) continue;
            if (line.find(".pcap") != std::string::npos) continue;  // the file's own path
            EXPECT_LE(line.size(), 100u) << name << "\n" << line;
        }
    }
}

// Colour with --color always; none by default off a terminal, with never, or with NO_COLOR.
TEST(Layout, ColourOnlyWhereAskedFor) {
    EXPECT_NE(text_of("exhausted.pcap", {"--color", "always"}).find("\x1b[1;31mexhausted\x1b[0m"),
              std::string::npos);
    EXPECT_EQ(text_of("exhausted.pcap").find('\x1b'), std::string::npos);
    EXPECT_EQ(text_of("exhausted.pcap", {"--color", "never"}).find('\x1b'), std::string::npos);
    if (!have_program("script")) GTEST_SKIP() << "script (util-linux) is not installed";
    const std::string command =
        std::string(EPHEMERA_BINARY) + " analyze " + sample("exhausted.pcap").string();
    const RunResult terminal = run({"script", "-qec", command, "/dev/null"});
    EXPECT_NE(terminal.out.find('\x1b'), std::string::npos) << "a terminal gets colour";
    const RunResult no_color = run({"env", "NO_COLOR=1", "script", "-qec", command, "/dev/null"});
    EXPECT_EQ(no_color.out.find('\x1b'), std::string::npos) << "NO_COLOR is honoured";
}

// vxlan.pcap, a real Linux VXLAN overlay captured on its underlay: the report is of the overlay's
// connections, the tunnel is named once for both directions, and the tunnel endpoints are not a
// client and a service. With --decapsulate none, the outer packets as they are.
TEST(Tunnels, AVxlanCaptureIsAnalyzedInside) {
    const json report = report_of("vxlan.pcap");
    EXPECT_EQ(report["connections"]["tcp"], 60);
    EXPECT_EQ(report["connections"]["udp"], 20);
    ASSERT_EQ(report["clients"].size(), 1u);
    EXPECT_EQ(report["clients"][0]["address"], "198.19.0.1");
    for (const json& service : report["services"]) {
        EXPECT_NE(service["port"], 4789) << "the tunnel's endpoint is not a service";
    }
    ASSERT_EQ(report["tunnels"].size(), 1u);
    const json& tunnel = report["tunnels"][0];
    EXPECT_EQ(tunnel["kind"], "vxlan");
    EXPECT_EQ(tunnel["id"], 42);
    EXPECT_EQ(tunnel["packets"].get<long>() + report["capture"]["skipped"]["non-ip"].get<long>() +
                  report["capture"]["skipped"]["unsupported-transport"].get<long>(),
              report["capture"]["packets"].get<long>());
    const std::vector<std::string> findings = findings_of(text_of("vxlan.pcap"));
    ASSERT_FALSE(findings.empty());
    EXPECT_NE(findings[0].find("were inside VXLAN VNI 42 between 198.18.0."), std::string::npos)
        << findings[0];

    const json outer = report_of("vxlan.pcap", {"--decapsulate", "none"});
    EXPECT_EQ(outer["connections"]["tcp"], 0);
    EXPECT_TRUE(outer["tunnels"].empty());
    bool vtep = false;
    for (const json& service : outer["services"]) vtep |= service["port"] == 4789;
    EXPECT_TRUE(vtep) << "without decapsulation, the VXLAN port is the busiest service";
}

}  // namespace
}  // namespace ephemera::test
