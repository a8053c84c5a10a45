// Inputs as users make them: two pcap files joined into one stream, pcapng files whose interfaces
// have different link types, compressed captures (gzip, zstd, lz4) on disk and on standard
// input, and inputs whose reading stops early. Expectations come from the files each input was
// made of, from tshark, and from how the input was cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

json analyze_json(const std::vector<std::string>& inputs,
                  const std::string& stdin_path = "/dev/null",
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"analyze", "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), inputs.begin(), inputs.end());
    const RunResult result = run_ephemera(args, stdin_path);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? json::parse(result.out) : json();
}

// Packets tshark reads from a capture.
long tshark_packets(const std::string& path) {
    const RunResult counted =
        run({"tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number"});
    EXPECT_EQ(counted.exit_code, 0) << counted.err;
    return std::count(counted.out.begin(), counted.out.end(), '\n');
}

long tshark_tcp_conversations(const std::string& path) {
    const RunResult table = run({"tshark", "-n", "-q", "-z", "conv,tcp", "-r", path});
    long count = 0;
    for (std::size_t at = table.out.find("<->"); at != std::string::npos;
         at = table.out.find("<->", at + 3))
        ++count;
    return count;
}

// The first line under "Findings, worst first" in a text report.
std::string first_finding(const std::string& text) {
    const std::string heading = "Findings, worst first\n  - ";
    const std::size_t at = text.find(heading);
    if (at == std::string::npos) return "";
    const std::size_t begin = at + heading.size();
    return text.substr(begin, text.find('\n', begin) - begin);
}

void concatenate(const std::string& out, const std::vector<std::string>& parts) {
    std::ofstream file(out, std::ios::binary);
    for (const std::string& part : parts) file << read_file(part);
}

// The parts of a report that describe the traffic, not the file it came from.
json traffic_of(json report) {
    report["capture"].erase("inputs");
    return report;
}

// `cat rotated-0.pcap rotated-1.pcap`: the second file header starts a new section; every packet
// of both files is read, in one stream, as the two files are read side by side.
TEST(JoinedCaptures, SecondPcapHeaderStartsANewSection) {
    TempDir temp;
    const std::string first = sample("rotated-0.pcap").string();
    const std::string second = sample("rotated-1.pcap").string();
    const std::string joined = temp.file("joined.pcap");
    concatenate(joined, {first, second});
    const json separate = analyze_json({first, second});
    for (const std::string& stdin_path : {std::string("/dev/null"), joined}) {
        const json report =
            stdin_path == joined ? analyze_json({"-"}, joined) : analyze_json({joined});
        const json& input = report["capture"]["inputs"][0];
        EXPECT_EQ(input["sections"], 2);
        EXPECT_EQ(input["complete"], true);
        EXPECT_EQ(report["capture"]["packets"], separate["capture"]["packets"]);
        EXPECT_EQ(report["warnings"].size(), 0u) << report["warnings"];
        EXPECT_EQ(traffic_of(report), traffic_of(separate));
    }
}

// Sections of different link types and resolutions: each section's frames decode as its own.
TEST(JoinedCaptures, SectionsKeepTheirOwnLinkTypes) {
    if (!have_program("tshark")) GTEST_SKIP() << "tshark is not installed";
    TempDir temp;
    const std::string ethernet = sample("exhausted.pcap").string();
    const std::string cooked = sample("any-sll.pcap").string();
    // A nanosecond copy of the cooked capture, as tcpdump --nano writes it.
    const std::string nano = temp.file("nano.pcap");
    ASSERT_EQ(run({"editcap", "-F", "nsecpcap", cooked, nano}).exit_code, 0);
    const std::string joined = temp.file("joined.pcap");
    concatenate(joined, {ethernet, nano});
    const json report = analyze_json({joined});
    const json& input = report["capture"]["inputs"][0];
    EXPECT_EQ(input["sections"], 2);
    EXPECT_EQ(input["link_type"], "EN10MB, LINUX_SLL");
    EXPECT_EQ(report["capture"]["packets"].get<long>(),
              tshark_packets(ethernet) + tshark_packets(cooked));
    const json apart = analyze_json({ethernet, cooked});
    EXPECT_EQ(report["connections"], apart["connections"]);
    EXPECT_EQ(report["capture"]["first_at"], apart["capture"]["first_at"]);
}

// dumpcap on an Ethernet and a cooked interface, or mergecap -F pcapng of such files: every
// interface is read with its own link type, as tshark reads it.
TEST(MixedLinkTypes, PcapngInterfacesOfDifferentLinkTypesAreAllRead) {
    if (!have_program("mergecap") || !have_program("tshark"))
        GTEST_SKIP() << "mergecap and tshark (wireshark-common, tshark) are not installed";
    TempDir temp;
    const std::string mixed = temp.file("mixed.pcapng");
    const RunResult merged =
        run({"mergecap", "-F", "pcapng", "-w", mixed, sample("tcp-ipv4.pcap").string(),
             sample("any-sll2.pcap").string()});
    ASSERT_EQ(merged.exit_code, 0) << merged.err;
    for (const std::string& stdin_path : {std::string("/dev/null"), mixed}) {
        const json report =
            stdin_path == mixed ? analyze_json({"-"}, mixed) : analyze_json({mixed});
        EXPECT_EQ(report["capture"]["packets"].get<long>(), tshark_packets(mixed));
        EXPECT_EQ(report["connections"]["tcp"].get<long>(), tshark_tcp_conversations(mixed));
        EXPECT_EQ(report["capture"]["inputs"][0]["link_type"], "EN10MB, LINUX_SLL2");
        EXPECT_EQ(report["warnings"].size(), 0u) << report["warnings"];
        EXPECT_EQ(report["capture"]["skipped"]["unsupported-link"], 0);
    }
    // A filter applies to each interface in its own link type.
    const json filtered = analyze_json({mixed}, "/dev/null", {"--filter", "tcp"});
    const RunResult tcp_only =
        run({"tshark", "-n", "-r", mixed, "-Y", "tcp", "-T", "fields", "-e", "frame.number"});
    EXPECT_EQ(filtered["capture"]["packets"].get<long>(),
              std::count(tcp_only.out.begin(), tcp_only.out.end(), '\n'));
}

struct Compressor {
    std::string name;
    std::vector<std::string> command;  // reads the file named last, writes to stdout
};

std::ostream& operator<<(std::ostream& out, const Compressor& c) {
    return out << c.name;
}

class Compressed : public ::testing::TestWithParam<Compressor> {};

// A compressed capture, on disk and on standard input, gives the report of the capture itself;
// so does a file of two compressed parts (rotated files joined), and a cut one keeps what came
// before the cut and says so.
TEST_P(Compressed, ReadsAsTheCaptureItHolds) {
    const Compressor& compressor = GetParam();
    if (!have_program(compressor.command[0]))
        GTEST_SKIP() << compressor.command[0] << " is not installed";
    TempDir temp;
    for (const std::string name : {"exhausted.pcap", "tcp-ipv6.pcapng"}) {
        std::vector<std::string> command = compressor.command;
        command.push_back(sample(name).string());
        const RunResult packed = run(command);
        ASSERT_EQ(packed.exit_code, 0) << packed.err;
        const std::string path = temp.file(name + "." + compressor.name);
        std::ofstream(path, std::ios::binary) << packed.out;
        const json plain = analyze_json({sample(name).string()});
        const json from_file = analyze_json({path});
        const json from_stdin = analyze_json({"-"}, path);
        EXPECT_EQ(from_file["capture"]["inputs"][0]["compression"], compressor.name);
        EXPECT_EQ(traffic_of(from_file), traffic_of(plain)) << name;
        EXPECT_EQ(traffic_of(from_stdin), traffic_of(plain)) << name;
    }
    // Cut in the middle: reading stops there, with what came before, and says so first. (A
    // capture of a few MB, so that the compressor has finished blocks before the cut.)
    const std::string large = temp.file("large.pcap");
    ASSERT_EQ(
        run_generator({"connections", large, "--clients", "20", "--per-client", "200"}).exit_code,
        0);
    std::vector<std::string> command = compressor.command;
    command.push_back(large);
    const std::string packed = run(command).out;
    const std::string cut = temp.file("cut." + compressor.name);
    std::ofstream(cut, std::ios::binary) << packed.substr(0, packed.size() / 2);
    const RunResult result = run_ephemera({"analyze", cut});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("reading stopped after"), std::string::npos) << result.err;
    EXPECT_NE(first_finding(result.out).find("cut." + compressor.name + ": reading stopped after"),
              std::string::npos)
        << result.out;
    // Two compressed rotations joined: both members are read.
    std::vector<std::string> parts;
    for (const std::string name : {"rotated-0.pcap", "rotated-1.pcap"}) {
        std::vector<std::string> command = compressor.command;
        command.push_back(sample(name).string());
        parts.push_back(run(command).out);
    }
    std::ofstream(temp.file("both"), std::ios::binary) << parts[0] << parts[1];
    const json joined = analyze_json({temp.file("both")});
    const json apart =
        analyze_json({sample("rotated-0.pcap").string(), sample("rotated-1.pcap").string()});
    EXPECT_EQ(joined["capture"]["packets"], apart["capture"]["packets"]);
    EXPECT_EQ(joined["capture"]["inputs"][0]["sections"], 2);
}

INSTANTIATE_TEST_SUITE_P(Inputs, Compressed,
                         ::testing::Values(Compressor{"gzip", {"gzip", "-c"}},
                                           Compressor{"zstd", {"zstd", "-q", "-c"}},
                                           Compressor{"lz4", {"lz4", "-q", "-B4", "-c"}}),
                         [](const auto& info) { return info.param.name; });

// Bytes after the last record that reading could take: the first finding counts them, and
// the JSON says the input is incomplete.
TEST(ReadingStops, TheFirstFindingSaysHowManyBytesWereLeftUnread) {
    TempDir temp;
    const std::string whole = read_file(sample("exhausted.pcap"));
    // A record header claiming 1 GB of packet, then 84 more bytes: 100 bytes unread.
    std::string junk(16, '\0');
    junk[8] = '\x00';
    junk[9] = '\x00';
    junk[10] = '\x00';
    junk[11] = '\x40';  // captured length 0x40000000, little-endian as the file is
    junk += std::string(84, 'x');
    std::ofstream(temp.file("junk.pcap"), std::ios::binary) << whole << junk;
    for (const bool on_stdin : {false, true}) {
        const RunResult result = on_stdin ? run_ephemera({"analyze", "-"}, temp.file("junk.pcap"))
                                          : run_ephemera({"analyze", temp.file("junk.pcap")});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        const std::string line = first_finding(result.out);
        EXPECT_NE(line.find("reading stopped after 483 packets, 100 bytes left unread"),
                  std::string::npos)
            << line;
    }
    const json report = analyze_json({temp.file("junk.pcap")});
    EXPECT_EQ(report["capture"]["inputs"][0]["complete"], false);
    EXPECT_EQ(report["capture"]["inputs"][0]["bytes_unread"], 100);
    // libpcap, which reads into a record before it gives up on it, counts the same bytes.
    const std::string ipv4 = read_file(sample("tcp-ipv4.pcap"));
    const std::string ipv6 = read_file(sample("tcp-ipv6.pcapng"));
    std::ofstream(temp.file("cut.pcap"), std::ios::binary) << ipv4.substr(0, 20000);
    std::ofstream(temp.file("cut.pcapng"), std::ios::binary) << ipv6.substr(0, 5000);
    for (const std::string name : {"junk.pcap", "cut.pcap", "cut.pcapng"}) {
        const json own = analyze_json({temp.file(name)});
        const json libpcap = analyze_json({temp.file(name)}, "/dev/null", {"--reader", "libpcap"});
        EXPECT_GT(own["capture"]["inputs"][0]["bytes_unread"], 0) << name;
        EXPECT_EQ(own["capture"]["inputs"][0]["bytes_unread"],
                  libpcap["capture"]["inputs"][0]["bytes_unread"])
            << name;
    }
}

}  // namespace
}  // namespace ephemera::test
