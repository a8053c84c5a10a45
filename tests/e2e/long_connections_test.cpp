// A connection open for hours: the log keeps times after a connection's first packet in 32 bits
// of microseconds (71 minutes) and what does not fit beside the record, whole. A real sample is
// stretched with editcap: every frame after the first SYN is delayed by two hours, so the first
// connection lasts two hours longer and every other one starts two hours later, unchanged.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "run.hpp"

namespace ephemera::test {
namespace {

constexpr long long delay_s = 7200;

struct Row {
    std::string start, end, rest;  // rest: every column after the end
};

// The connection rows of `csv` (header dropped), in the order written.
std::vector<Row> rows_of(const std::string& csv) {
    std::vector<Row> rows;
    std::istringstream lines(csv);
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
        const std::size_t first = line.find(',');
        const std::size_t second = line.find(',', first + 1);
        rows.push_back({line.substr(0, first), line.substr(first + 1, second - first - 1),
                        line.substr(second + 1)});
    }
    return rows;
}

// "1795320449.104343" plus the delay, as the CSV writes times.
std::string delayed(const std::string& time) {
    const std::size_t dot = time.find('.');
    return std::to_string(std::stoll(time.substr(0, dot)) + delay_s) + time.substr(dot);
}

std::string connections_csv(const std::vector<std::string>& inputs, const TempDir& temp) {
    std::vector<std::string> args = {"analyze", "--connections", "-", "-o", temp.file("r.txt")};
    args.insert(args.end(), inputs.begin(), inputs.end());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
}

TEST(LongConnections, HoursLongConnectionsKeepTheirExactTimesAndCounts) {
    if (!have_program("editcap") || !have_program("mergecap")) {
        GTEST_SKIP() << "editcap and mergecap (Debian's wireshark-common) are not installed";
    }
    TempDir temp;
    const std::string original = sample("tcp-ipv4.pcap").string();
    // Frames 1-2 are ARP, frame 3 the first connection's SYN.
    ASSERT_EQ(run({"editcap", "-r", original, temp.file("head.pcap"), "1-3"}).exit_code, 0);
    ASSERT_EQ(run({"editcap", original, temp.file("tail.pcap"), "1-3"}).exit_code, 0);
    ASSERT_EQ(run({"editcap", "-t", std::to_string(delay_s), temp.file("tail.pcap"),
                   temp.file("tail-later.pcap")})
                  .exit_code,
              0);
    const std::string stretched = temp.file("stretched.pcap");
    ASSERT_EQ(run({"mergecap", "-F", "pcap", "-a", "-w", stretched, temp.file("head.pcap"),
                   temp.file("tail-later.pcap")})
                  .exit_code,
              0);

    const std::vector<Row> before = rows_of(connections_csv({original}, temp));
    const std::string stretched_csv = connections_csv({stretched}, temp);
    const std::vector<Row> after = rows_of(stretched_csv);
    ASSERT_GT(before.size(), 10u);
    ASSERT_EQ(after.size(), before.size());
    EXPECT_EQ(after[0].start, before[0].start) << "the SYN was not delayed";
    EXPECT_EQ(after[0].end, delayed(before[0].end));
    EXPECT_EQ(after[0].rest, before[0].rest) << "same endpoints, state and counts";
    for (std::size_t i = 1; i < before.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(after[i].start, delayed(before[i].start));
        EXPECT_EQ(after[i].end, delayed(before[i].end));
        EXPECT_EQ(after[i].rest, before[i].rest);
    }

    // Saved and read back, the long connection is the same.
    const RunResult saved = run_ephemera(
        {"analyze", stretched, "--save-state", temp.file("s.state"), "-o", temp.file("r.txt")});
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_EQ(connections_csv({temp.file("s.state")}, temp), stretched_csv);
}

}  // namespace
}  // namespace ephemera::test
