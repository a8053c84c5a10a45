// The own readers (PcapFile, PcapngFile) must read every file they take exactly as libpcap does:
// the same packets, times, lengths and reasons to stop. `--reader libpcap` reads everything
// through libpcap, so the two reports must be byte for byte the same: on the samples, on
// generated odd-but-valid files, and on tcpdump's corpus, many of whose files are damaged.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "run.hpp"

namespace ephemera::test {
namespace {

std::filesystem::path corpus_dir() {
    if (const char* override_dir = std::getenv("EPHEMERA_CORPUS")) return override_dir;
    return source_dir() / ".." / "shared" / "corpus" / "tcpdump-tests";
}

// What libpcap cannot say, taken out of a report or warning: how many sections a file held and
// how many bytes were left after the last record read (libpcap reads into a failed record
// before it gives up, so it counts fewer).
std::string without_layout(const std::string& text) {
    static const std::regex unread(", [0-9]+ bytes? left unread");
    std::string plain = std::regex_replace(text, unread, "");
    if (plain.empty() || plain[0] != '{') return plain;
    nlohmann::json report = nlohmann::json::parse(plain);
    for (nlohmann::json& input : report["capture"]["inputs"]) {
        input.erase("sections");
        input.erase("bytes_unread");
    }
    return report.dump(2);
}

// Both readers on one file, with optional extra arguments; true when the reports agree.
void expect_same_reports(const std::string& path, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> own_reader = {"analyze", "--format", "json", path};
    own_reader.insert(own_reader.end(), extra.begin(), extra.end());
    std::vector<std::string> through_libpcap = own_reader;
    through_libpcap.insert(through_libpcap.begin() + 1, {"--reader", "libpcap"});
    const RunResult a = run_ephemera(own_reader, "/dev/null", 60);
    const RunResult b = run_ephemera(through_libpcap, "/dev/null", 60);
    ASSERT_FALSE(a.timed_out || b.timed_out) << path;
    EXPECT_EQ(a.exit_code, b.exit_code) << path << "\n" << a.err << b.err;
    EXPECT_EQ(without_layout(a.out), without_layout(b.out)) << path;
    EXPECT_EQ(without_layout(a.err), without_layout(b.err)) << path;
}

TEST(OwnReaderReports, ReadsTheSamplesAsLibpcapDoes) {
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "pcaps")) {
        if (entry.path().extension() != ".pcap") continue;
        expect_same_reports(entry.path().string());
        ++files;
    }
    EXPECT_GE(files, 15u);
    expect_same_reports(sample("tcp-ipv4.pcap").string(), {"--filter", "tcp port 8080"});
}

TEST(OwnReaderReports, ReadsOddButValidFilesAsLibpcapDoes) {
    TempDir temp;
    const std::vector<std::vector<std::string>> variants = {
        {"--nanosecond"}, {"--byte-swapped"}, {"--snaplen", "60"}, {"--jumbo"}};
    for (std::size_t i = 0; i < variants.size(); ++i) {
        const std::string path = temp.file("odd" + std::to_string(i) + ".pcap");
        std::vector<std::string> args = {"connections", path};
        args.insert(args.end(), variants[i].begin(), variants[i].end());
        ASSERT_EQ(run_generator(args).exit_code, 0) << variants[i][0];
        expect_same_reports(path);
    }
}

// Cut anywhere (inside a record's header, its data, a pcapng block), a file is read up to the cut
// with the same warning libpcap gives.
TEST(OwnReaderReports, ReadsFilesCutAnywhereAsLibpcapDoes) {
    TempDir temp;
    for (const std::string name : {"tcp-ipv4.pcap", "tcp-ipv6.pcapng"}) {
        const std::string bytes = read_file(sample(name));
        const std::size_t size = bytes.size();
        for (const std::size_t cut : {size - 1, size - 3, size - 9, size - 17, size / 2,
                                      size / 2 + 5, size / 3 + 13, std::size_t{200}}) {
            const std::string path = temp.file(std::to_string(cut) + "-" + name);
            std::ofstream(path, std::ios::binary)
                .write(bytes.data(), static_cast<std::streamsize>(cut));
            expect_same_reports(path);
        }
    }
}

// Two pcapng files one after the other: the own reader reads the first section, libpcap the
// second (PcapngFile::needs_libpcap), and the report is the one libpcap alone gives.
TEST(OwnReaderReports, HandsASecondPcapngSectionToLibpcap) {
    TempDir temp;
    const std::string bytes = read_file(sample("tcp-ipv6.pcapng"));
    const std::string path = temp.file("two-sections.pcapng");
    std::ofstream(path, std::ios::binary) << bytes << bytes;
    expect_same_reports(path);
    const RunResult once = run_ephemera({"analyze", "--format", "json", sample("tcp-ipv6.pcapng")});
    const RunResult twice = run_ephemera({"analyze", "--format", "json", path});
    ASSERT_EQ(twice.exit_code, 0) << twice.err;
    const auto frames = [](const RunResult& run) {
        return nlohmann::json::parse(run.out)["capture"]["packets"].get<std::uint64_t>();
    };
    EXPECT_EQ(frames(twice), 2 * frames(once));
}

// Inputs the pipeline fuzzer found (its differential check compares the two readers).
TEST(OwnReaderReports, ReadsFuzzRegressionsAsLibpcapDoes) {
    for (const auto& entry :
         std::filesystem::directory_iterator(source_dir() / "tests" / "fuzz" / "regressions")) {
        if (entry.path().filename().string().rfind("pipeline_fuzzer-", 0) != 0) continue;
        expect_same_reports(entry.path().string());
    }
}

TEST(OwnReaderReports, ReadsTcpdumpsCorpusAsLibpcapDoes) {
    const std::filesystem::path dir = corpus_dir();
    if (!std::filesystem::is_directory(dir)) {
        GTEST_SKIP() << "corpus not found at " << dir << " (set EPHEMERA_CORPUS): skipped";
    }
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        expect_same_reports(entry.path().string());
        ++files;
    }
    EXPECT_GT(files, 800u);
}

}  // namespace
}  // namespace ephemera::test
