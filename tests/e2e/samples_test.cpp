// The binary on real captures from pcaps/, checked against how the traffic was made: each
// NAME.truth.jsonl lists every connection as the client program's own sockets saw it.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "report_files.hpp"
#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

struct Sample {
    std::string name;
    std::string file;       // in pcaps/
    std::string truth;      // NAME of pcaps/NAME.truth.jsonl
    std::string link_type;  // as libpcap names it
    bool handshakes;        // false: the capture began after the connections opened
};

std::ostream& operator<<(std::ostream& out, const Sample& sample) {
    return out << sample.name;
}

const std::vector<Sample> samples = {
    {"tcp-ipv4", "tcp-ipv4.pcap", "tcp-ipv4", "EN10MB", true},
    {"tcp-ipv6", "tcp-ipv6.pcap", "tcp-ipv6", "EN10MB", true},
    {"tcp-ipv6-pcapng", "tcp-ipv6.pcapng", "tcp-ipv6", "EN10MB", true},
    {"udp", "udp.pcap", "udp", "EN10MB", true},
    {"any-sll2", "any-sll2.pcap", "any-sll2", "LINUX_SLL2", true},
    {"any-sll", "any-sll.pcap", "any-sll", "LINUX_SLL", true},
    {"midstream", "midstream.pcap", "midstream", "EN10MB", false},
    {"vlan", "vlan.pcap", "vlan", "EN10MB", true},
    {"qinq", "qinq.pcap", "qinq", "EN10MB", true},
    {"tw-reuse", "tw-reuse.pcap", "tw-reuse", "EN10MB", true},
    {"exhausted", "exhausted.pcap", "exhausted", "EN10MB", true},
    {"bind-sequential", "bind-sequential.pcap", "bind-sequential", "EN10MB", true},
    {"bind-random", "bind-random.pcap", "bind-random", "EN10MB", true},
    {"linux-default", "linux-default.pcap", "linux-default", "EN10MB", true},
    {"udp-exhausted", "udp-exhausted.pcap", "udp-exhausted", "EN10MB", true},
    {"vxlan", "vxlan.pcap", "vxlan", "EN10MB", true},
};

struct Analysis {
    json report;
    std::vector<CsvRow> rows;
};

Analysis analyze(const std::vector<std::string>& inputs, std::vector<std::string> extra = {}) {
    TempDir temp;
    std::vector<std::string> args = {"analyze", "--format", "json", "--connections",
                                     temp.file("connections.csv")};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), inputs.begin(), inputs.end());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.err, "");
    return {json::parse(result.out), read_csv(temp.file("connections.csv"))};
}

std::string capture_file(const Sample& s) {
    return sample(s.file).string();
}

class SampleTest : public ::testing::TestWithParam<Sample> {};

TEST_P(SampleTest, EveryConnectionWithItsRoles) {
    const Sample& s = GetParam();
    const Analysis analysis = analyze({capture_file(s)});
    std::multiset<Conversation> found;
    for (const CsvRow& row : analysis.rows) found.insert(conversation_of(row));
    const std::vector<Conversation> truth = read_truth(s.truth);
    ASSERT_FALSE(truth.empty());
    EXPECT_EQ(found, std::multiset<Conversation>(truth.begin(), truth.end()));
}

TEST_P(SampleTest, StatesAndRoleReasonsFollowTheTraffic) {
    const Sample& s = GetParam();
    for (const CsvRow& row : analyze({capture_file(s)}).rows) {
        EXPECT_NE(row.at("client_packets"), "0");
        EXPECT_NE(row.at("server_packets"), "0") << "every request was answered";
        if (row.at("protocol") == "tcp") {
            EXPECT_EQ(row.at("state"), "closed") << "the client closed every connection";
            if (s.handshakes) {
                EXPECT_EQ(row.at("role_reason"), "syn");
            } else {
                EXPECT_NE(row.at("role_reason"), "syn");
                EXPECT_NE(row.at("role_reason"), "syn-ack");
            }
        }
    }
}

// A CSV row's start, as written: whole seconds, a point and exactly six decimals.
std::pair<long long, long long> start_of(const CsvRow& row) {
    const std::string& text = row.at("start");
    const std::size_t point = text.find('.');
    EXPECT_EQ(text.size() - point, 7u) << text;
    return {std::stoll(text.substr(0, point)), std::stoll(text.substr(point + 1))};
}

// The README promises the rows oldest first; the log holds connections in the order they ended.
TEST_P(SampleTest, ConnectionsCsvIsOldestFirst) {
    const std::vector<CsvRow> rows = analyze({capture_file(GetParam())}).rows;
    ASSERT_FALSE(rows.empty());
    for (std::size_t row = 1; row < rows.size(); ++row) {
        EXPECT_LE(start_of(rows[row - 1]), start_of(rows[row])) << "row " << row;
    }
}

TEST_P(SampleTest, ClientAndServerTalliesMatchTheTruth) {
    const Sample& s = GetParam();
    const json report = analyze({capture_file(s)}).report;
    EXPECT_EQ(report["schema"], "ephemera.report.v2");
    EXPECT_EQ(report["capture"]["inputs"][0]["path"], capture_file(s));
    EXPECT_EQ(report["capture"]["inputs"][0]["link_type"], s.link_type);
    EXPECT_GT(report["capture"]["packets"].get<int>(), 0);

    struct Expected {
        int tcp = 0, udp = 0;
        std::set<int> ports;
    };
    std::map<std::string, Expected> clients;
    std::map<std::tuple<std::string, int, std::string>, std::pair<int, std::set<std::string>>>
        servers;
    for (const auto& [protocol, client, client_port, server, server_port] : read_truth(s.truth)) {
        Expected& expected = clients[client];
        (protocol == "tcp" ? expected.tcp : expected.udp) += 1;
        expected.ports.insert(client_port);
        auto& tally = servers[{server, server_port, protocol}];
        ++tally.first;
        tally.second.insert(client);
    }

    ASSERT_EQ(report["clients"].size(), clients.size());
    for (const json& client : report["clients"]) {
        const Expected& expected = clients.at(client["address"]);
        EXPECT_EQ(client["tcp_connections"], expected.tcp) << client["address"];
        EXPECT_EQ(client["udp_flows"], expected.udp) << client["address"];
        EXPECT_EQ(client["ports"]["distinct"], expected.ports.size());
        EXPECT_EQ(client["ports"]["min"], *expected.ports.begin());
        EXPECT_EQ(client["ports"]["max"], *expected.ports.rbegin());
    }
    ASSERT_EQ(report["services"].size(), servers.size());
    for (const json& server : report["services"]) {
        const auto& expected = servers.at({server["address"], server["port"], server["protocol"]});
        EXPECT_EQ(server["connections"], expected.first);
        EXPECT_EQ(server["clients"], expected.second.size());
    }
}

// tshark's conversation table counts TCP conversations independently of ephemera.
TEST_P(SampleTest, TcpConnectionCountAgreesWithTshark) {
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    const Sample& s = GetParam();
    const RunResult tshark = run({"tshark", "-n", "-q", "-z", "conv,tcp", "-r", capture_file(s)});
    ASSERT_EQ(tshark.exit_code, 0) << tshark.err;
    std::size_t conversations = 0;
    for (std::size_t at = tshark.out.find("<->"); at != std::string::npos;
         at = tshark.out.find("<->", at + 3)) {
        ++conversations;
    }
    const json report = analyze({capture_file(s)}).report;
    EXPECT_EQ(report["connections"]["tcp"].get<std::size_t>(), conversations);
}

INSTANTIATE_TEST_SUITE_P(Pcaps, SampleTest, ::testing::ValuesIn(samples), [](const auto& info) {
    std::string name = info.param.name;
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
});

std::vector<std::string> rows_as_lines(const std::vector<CsvRow>& rows) {
    std::vector<std::string> lines;
    for (const CsvRow& row : rows) {
        std::string line;
        for (const auto& [key, value] : row) line += key + "=" + value + ";";
        lines.push_back(line);
    }
    return lines;
}

TEST(Inputs, RotatedFilesInAnyOrderAreOneStream) {
    const Analysis whole = analyze({sample("tcp-ipv4.pcap")});
    const Analysis parts =
        analyze({sample("rotated-3.pcap"), sample("rotated-0.pcap"), sample("rotated-4.pcap"),
                 sample("rotated-1.pcap"), sample("rotated-2.pcap")});
    EXPECT_EQ(parts.report["capture"]["packets"], whole.report["capture"]["packets"]);
    EXPECT_EQ(parts.report["capture"]["inputs"].size(), 5u);
    EXPECT_EQ(rows_as_lines(parts.rows), rows_as_lines(whole.rows));
}

TEST(Inputs, StandardInput) {
    TempDir temp;
    const RunResult result =
        run_ephemera({"analyze", "--format", "json", "--connections", temp.file("c.csv"), "-"},
                     sample("tcp-ipv4.pcap"));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(json::parse(result.out)["capture"]["inputs"][0]["path"], "-");
    EXPECT_EQ(rows_as_lines(read_csv(temp.file("c.csv"))),
              rows_as_lines(analyze({sample("tcp-ipv4.pcap")}).rows));
}

TEST(Inputs, BpfFilterSelectsPackets) {
    const Analysis filtered = analyze({sample("tcp-ipv4.pcap")}, {"--filter", "tcp port 8443"});
    std::size_t expected = 0;
    for (const Conversation& c : read_truth("tcp-ipv4")) expected += std::get<4>(c) == 8443;
    ASSERT_GT(expected, 0u);
    EXPECT_EQ(filtered.rows.size(), expected);
    for (const CsvRow& row : filtered.rows) EXPECT_EQ(row.at("server_port"), "8443");
}

TEST(Inputs, TextReportNamesClientsAndServices) {
    const RunResult result = run_ephemera({"analyze", sample("any-sll2.pcap")});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    for (const Conversation& c : read_truth("any-sll2")) {
        EXPECT_NE(result.out.find(std::get<1>(c)), std::string::npos) << std::get<1>(c);
    }
    EXPECT_NE(result.out.find("198.18.0.1:9090"), std::string::npos);
    EXPECT_NE(result.out.find("[2001:db8::2]:8080"), std::string::npos);
}

}  // namespace
}  // namespace ephemera::test
