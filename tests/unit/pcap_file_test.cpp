// The project's own capture file readers must hand out exactly the frames libpcap reads, and stop
// where and why libpcap stops, however the file falls across their buffer's refills. Read here
// one read size after another, down to a byte at a time, so that every record straddles a
// refill somewhere; the end-to-end tests compare whole reports (tests/e2e/reader_test.cpp).
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "ephemera/capture/pcap_file.hpp"
#include "ephemera/capture/read_ahead.hpp"
#include "ephemera/capture/reader.hpp"

#include "sample_captures.hpp"

namespace ephemera {
namespace {

struct Frame {
    Micros timestamp;
    std::vector<std::uint8_t> bytes;
    std::uint32_t wire_length;

    bool operator==(const Frame&) const = default;
};

struct Reading {
    std::vector<Frame> frames;
    std::string stop_reason;   // empty: read to the end
    bool handed_over = false;  // the rest is libpcap's (PcapngFile::needs_libpcap)
};

// libpcap's frames and its error, if it stopped on one; false when it cannot open the file.
bool read_with_libpcap(const std::string& path, Reading& reading, int& link_type, int& snapshot) {
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
    if (handle == nullptr) return false;
    link_type = pcap_datalink(handle);
    snapshot = pcap_snapshot(handle);
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    int status = 0;
    while ((status = pcap_next_ex(handle, &header, &data)) == 1) {
        reading.frames.push_back({Micros{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec,
                                  std::vector<std::uint8_t>(data, data + header->caplen),
                                  header->len});
    }
    if (status == PCAP_ERROR) reading.stop_reason = pcap_geterr(handle);
    pcap_close(handle);
    return true;
}

template <typename Reader>
Reading read_with(Reader& reader) {
    Reading reading;
    RawFrame frame;
    while (reader.next(frame)) {
        reading.frames.push_back({frame.timestamp,
                                  std::vector<std::uint8_t>(frame.bytes.begin(), frame.bytes.end()),
                                  frame.wire_length});
    }
    reading.stop_reason = reader.stop_reason();
    if constexpr (std::is_same_v<Reader, PcapngFile>) reading.handed_over = reader.needs_libpcap();
    return reading;
}

// Another thread that reads ahead for a file (capture/read_ahead.hpp) as fast as it can, so
// that most refills take the piece it read, and some wait for it: for its own helper (get()), or
// for the one a CaptureReader made (serve()).
class ReadingHelper {
  public:
    ReadingHelper() : offers_(&ahead_) {
        thread_ = std::thread([this] {
            while (!stop_.load()) {
                bool filled = false;
                {
                    const std::lock_guard<std::mutex> lock(mutex_);
                    if (offers_ != nullptr) filled = offers_->fill();
                }
                if (!filled) std::this_thread::yield();
            }
        });
    }
    ~ReadingHelper() {
        stop_ = true;
        thread_.join();
    }
    ReadAhead* get() { return &ahead_; }
    // Reads for `offers` from now on (nullptr: for nothing), once any read under way is done.
    void serve(ReadAhead* offers) {
        const std::lock_guard<std::mutex> lock(mutex_);
        offers_ = offers;
    }

  private:
    ReadAhead ahead_;
    std::mutex mutex_;
    ReadAhead* offers_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Compares the own reader that takes `path` (if one does) with libpcap at several read sizes,
// each alone and with a helper reading ahead; true when one took it.
bool expect_read_as_libpcap_does(const std::string& path) {
    Reading expected;
    int link_type = 0;
    int snapshot = 0;
    if (!read_with_libpcap(path, expected, link_type, snapshot)) return false;
    bool taken = false;
    struct Way {
        std::size_t read_size;
        bool helped;
    };
    for (const Way way : {Way{1, false}, Way{100, false}, Way{4096, false},
                          Way{FileBuffer::default_read_size, false}, Way{100, true},
                          Way{4096, true}, Way{FileBuffer::default_read_size, true}}) {
        const std::size_t read_size = way.read_size;
        const std::string where =
            path + " read " + std::to_string(read_size) + (way.helped ? " helped" : "");
        std::optional<ReadingHelper> helper;  // goes after the reader, which gives it back
        if (way.helped) helper.emplace();
        Reading got;
        if (auto pcap = PcapFile::open(path, link_type, snapshot, read_size)) {
            if (helper) pcap->share_reading(helper->get());
            got = read_with(*pcap);
        } else if (auto pcapng = PcapngFile::open(path, link_type, snapshot, read_size)) {
            if (helper) pcapng->share_reading(helper->get());
            got = read_with(*pcapng);
        } else {
            continue;  // libpcap's alone
        }
        taken = true;
        if (got.handed_over) {
            // What it read before handing over is what libpcap reads first.
            EXPECT_LE(got.frames.size(), expected.frames.size()) << path;
            EXPECT_TRUE(got.frames.size() <= expected.frames.size() &&
                        std::equal(got.frames.begin(), got.frames.end(), expected.frames.begin()))
                << where;
            EXPECT_TRUE(got.stop_reason.empty()) << path;
            continue;
        }
        EXPECT_EQ(got.frames.size(), expected.frames.size()) << where;
        EXPECT_TRUE(got.frames == expected.frames) << where;
        EXPECT_EQ(got.stop_reason, expected.stop_reason) << where;
    }
    return taken;
}

std::filesystem::path source_dir() {
    return EPHEMERA_SOURCE_DIR;
}

// A refill that takes the piece a helper read must hand out the same bytes as one that reads
// them itself: pieces kept across the swap, views that skip past the piece, the file's end.
TEST(FileBuffer, AHelperReadingAheadChangesNoByteOfAnyView) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ephemera-ahead-" + std::to_string(getpid())))
            .string();
    std::vector<std::uint8_t> bytes(200'000);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<std::uint8_t>(i * 131 + i / 7);
    }
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    constexpr std::size_t largest = 300;
    for (const std::size_t read_size : {64, 1000, 4096}) {
        // The helper's reads come in between views here, none to three at a time, where a
        // thread would race for them: each way the refills can go is taken many times, the same
        // way each run.
        ReadAhead helper;
        FileBuffer buffer;
        ASSERT_TRUE(buffer.open(path, largest, read_size));
        buffer.share_reading(&helper);
        std::mt19937 random(static_cast<std::uint32_t>(read_size));
        std::size_t offset = 0;
        std::size_t views = 0;
        std::size_t pieces_read = 0;
        while (true) {
            const std::size_t wanted = 1 + random() % largest;
            if (offset + wanted > bytes.size() - 1) break;
            const std::uint8_t* view = buffer.view(offset, wanted);
            ASSERT_NE(view, nullptr) << offset << " read " << read_size;
            ASSERT_TRUE(std::equal(view, view + wanted, bytes.begin() + offset))
                << offset << "+" << wanted << " read " << read_size;
            ++views;
            for (std::size_t fills = random() % 4; fills > 0; --fills) {
                pieces_read += helper.fill();
            }
            // Mostly on to the next record; sometimes back into this one, sometimes far ahead.
            const std::size_t kind = random() % 10;
            offset += kind == 0 ? random() % wanted : kind == 1 ? wanted + random() % 5000 : wanted;
        }
        EXPECT_GT(views, 300u);
        EXPECT_GT(pieces_read, 20u) << "read " << read_size;
        EXPECT_EQ(buffer.view(bytes.size() - 10, 11), nullptr);
        // Once the buffer holds the file's last byte, nothing more is offered.
        const std::uint8_t* last = buffer.view(bytes.size() - 1, 1);
        ASSERT_NE(last, nullptr);
        EXPECT_EQ(*last, bytes.back());
        EXPECT_FALSE(helper.fill());
    }
    std::filesystem::remove(path);
}

TEST(OwnReaders, ReadTheSamplesAsLibpcapDoesAtEveryReadSize) {
    std::size_t taken = 0;
    for (const std::string& path : sample_captures()) {
        if (expect_read_as_libpcap_does(path)) ++taken;
    }
    EXPECT_GE(taken, 15u);
}

TEST(OwnReaders, ReadTcpdumpsCorpusAsLibpcapDoesAtEveryReadSize) {
    const std::filesystem::path corpus =
        source_dir() / ".." / "shared" / "corpus" / "tcpdump-tests";
    if (!std::filesystem::is_directory(corpus)) GTEST_SKIP() << "no corpus at " << corpus;
    std::size_t files = 0;
    std::size_t taken = 0;
    for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
        ++files;
        if (expect_read_as_libpcap_does(entry.path().string())) ++taken;
    }
    // Most of the corpus is classic pcap or plain pcapng of a link type ephemera decodes.
    EXPECT_GT(taken, files / 3) << taken << " of " << files;
}

// A capture of two records, the second cut short by `cut` bytes.
std::string two_records(std::size_t cut) {
    const std::uint8_t header[] = {0xd4, 0xc3, 0xb2, 0xa1, 2,    0,    4, 0, 0, 0, 0, 0,
                                   0,    0,    0,    0,    0xff, 0xff, 0, 0, 1, 0, 0, 0};
    // seconds 1, microseconds 2, captured 20, on the wire 60; then 20 bytes of frame
    std::string bytes(reinterpret_cast<const char*>(header), sizeof header);
    for (int record = 0; record < 2; ++record) {
        const std::uint8_t head[] = {1, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0, 60, 0, 0, 0};
        bytes.append(reinterpret_cast<const char*>(head), sizeof head);
        bytes.append(20, static_cast<char>(0x40 + record));
    }
    bytes.resize(bytes.size() - cut);
    return bytes;
}

// A file that shrinks while it is read (a capture rotated over in place) ends where it now
// ends, as a cut-off file: a memory map would have killed the process with SIGBUS instead.
TEST(OwnReaders, AFileThatShrinksWhileReadEndsWhereItNowEnds) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ephemera-shrink-" + std::to_string(getpid())))
            .string();
    std::ofstream(path, std::ios::binary) << two_records(0);
    auto reader = PcapFile::open(path, 1, 65535, 16);
    ASSERT_NE(reader, nullptr);
    RawFrame frame;
    ASSERT_TRUE(reader->next(frame));
    EXPECT_EQ(frame.timestamp, 1'000'002);
    EXPECT_EQ(frame.bytes.size(), 20u);
    EXPECT_EQ(frame.bytes[0], 0x40);
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(two_records(5).size())), 0);
    EXPECT_FALSE(reader->next(frame));
    EXPECT_TRUE(reader->cut_off());
    EXPECT_EQ(reader->stop_reason(),
              "truncated dump file; tried to read 20 captured bytes, only "
              "got 15");
    EXPECT_FALSE(reader->next(frame)) << "stays stopped";
    std::filesystem::remove(path);
}

void append32(std::string& bytes, std::uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(value >> shift));
}

// One pcapng section: its header, an Ethernet interface, and one packet of 20 bytes `fill`
// captured at `seconds`.
std::string pcapng_section(std::uint32_t seconds, char fill) {
    std::string bytes;
    for (const std::uint32_t word : {0x0A0D0D0Au, 28u, 0x1A2B3C4Du, 1u, 0xffffffffu, 0xffffffffu,
                                     28u,                          // section header
                                     1u, 20u, 1u, 65535u, 20u}) {  // interface: Ethernet
        append32(bytes, word);
    }
    const std::uint64_t ticks = std::uint64_t{seconds} * 1'000'000;
    for (const std::uint32_t word : {6u, 52u, 0u, static_cast<std::uint32_t>(ticks >> 32),
                                     static_cast<std::uint32_t>(ticks), 20u, 60u}) {
        append32(bytes, word);
    }
    bytes.append(20, fill);
    append32(bytes, 52u);
    return bytes;
}

// A second section (two pcapng files one after the other) is libpcap's to read: the own reader
// stops before it, and the capture reader has libpcap read on from there.
struct ReaderRun {
    std::vector<Frame> frames;
    std::uint64_t counted = 0;
    std::vector<std::string> warnings;
};

ReaderRun read_through(CaptureReader& reader) {
    ReaderRun run;
    while (const RawFrame* frame = reader.next()) {
        run.frames.push_back({frame->timestamp,
                              std::vector<std::uint8_t>(frame->bytes.begin(), frame->bytes.end()),
                              frame->wire_length});
    }
    EXPECT_EQ(reader.next(), nullptr);  // and it stays ended
    run.counted = reader.files().at(0).frames;
    run.warnings = reader.warnings();
    return run;
}

// The warnings without the count of bytes left unread, which libpcap, reading into a record
// before it gives up on it, cannot give as the project's readers do.
std::vector<std::string> without_unread(std::vector<std::string> warnings) {
    static const std::regex unread(", [0-9]+ bytes? left unread");
    for (std::string& warning : warnings) warning = std::regex_replace(warning, unread, "");
    return warnings;
}

// A lone unfiltered file the project reads is read by the shortest path (CaptureReader::next);
// a filter that every packet passes takes the general one. Both, and libpcap, must agree on the
// frames, their count and the warning for a file cut short, wherever it was cut, and for a
// pcapng file with a second section. Two classic pcap files joined are two sections to the
// project's readers, and every frame of both is read; libpcap takes the second file header for a
// record and stops soon after.
TEST(OwnReaders, TheSoleFilePathReadsAsTheGeneralOneAndLibpcap) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ephemera-sole-" + std::to_string(getpid())))
            .string();
    std::size_t cut_short = 0;
    for (const std::string name : {"tcp-ipv4.pcap", "tcp-ipv6.pcapng"}) {
        std::size_t whole_frames = 0;
        std::ifstream in(source_dir() / "pcaps" / name, std::ios::binary);
        const std::string bytes(std::istreambuf_iterator<char>(in), {});
        ASSERT_GT(bytes.size(), 1000u) << name;
        const std::vector<std::string> variants = {
            bytes,
            bytes + bytes,  // a second section
            bytes.substr(0, bytes.size() - 1),
            bytes.substr(0, bytes.size() - 17),
            bytes.substr(0, bytes.size() / 2),
            bytes.substr(0, bytes.size() / 3 + 13),
        };
        for (std::size_t variant = 0; variant < variants.size(); ++variant) {
            std::ofstream(path, std::ios::binary) << variants[variant];
            CaptureReader sole(std::vector<std::string>{path}, "");
            CaptureReader general(std::vector<std::string>{path}, "len >= 0");
            CaptureReader libpcap(std::vector<std::string>{path}, "", false);
            // Only a single unfiltered file the project reads shares its reading.
            EXPECT_EQ(general.share_reading(), nullptr) << name << " " << variant;
            EXPECT_EQ(libpcap.share_reading(), nullptr) << name << " " << variant;
            ReaderRun by_shared;
            {
                ReadingHelper helper;
                CaptureReader shared(std::vector<std::string>{path}, "");
                ReadAhead* offers = shared.share_reading();
                ASSERT_NE(offers, nullptr) << name << " " << variant;
                helper.serve(offers);
                by_shared = read_through(shared);
                helper.serve(nullptr);
            }
            const ReaderRun by_sole = read_through(sole);
            const ReaderRun by_general = read_through(general);
            const ReaderRun by_libpcap = read_through(libpcap);
            EXPECT_TRUE(by_shared.frames == by_sole.frames) << name << " " << variant;
            EXPECT_EQ(by_shared.warnings, by_sole.warnings) << name << " " << variant;
            EXPECT_FALSE(by_sole.frames.empty() && variant < 2) << name << " " << variant;
            EXPECT_TRUE(by_sole.frames == by_general.frames) << name << " " << variant;
            EXPECT_EQ(by_sole.counted, by_sole.frames.size()) << name << " " << variant;
            EXPECT_EQ(by_general.counted, by_sole.frames.size()) << name << " " << variant;
            EXPECT_EQ(by_sole.warnings, by_general.warnings) << name << " " << variant;
            if (variant == 1) {
                EXPECT_EQ(by_sole.frames.size(), 2 * whole_frames) << name;
                EXPECT_TRUE(by_sole.warnings.empty()) << name;
                if (name.ends_with(".pcapng")) {
                    EXPECT_TRUE(by_sole.frames == by_libpcap.frames);
                }
                continue;
            }
            if (variant == 0) whole_frames = by_sole.frames.size();
            EXPECT_TRUE(by_sole.frames == by_libpcap.frames) << name << " " << variant;
            EXPECT_EQ(without_unread(by_sole.warnings), without_unread(by_libpcap.warnings))
                << name << " " << variant;
            cut_short += !by_sole.warnings.empty();
        }
    }
    EXPECT_GE(cut_short, 4u);  // the cuts inside a record were noticed
    std::filesystem::remove(path);
}

// A second section (two pcapng files one after the other) is read on by the project's reader,
// with interface numbers that start again; so is a second classic pcap header.
TEST(OwnReaders, ASecondSectionIsReadOn) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ephemera-two-" + std::to_string(getpid())))
            .string();
    std::ofstream(path, std::ios::binary) << pcapng_section(1, 'a') << pcapng_section(2, 'b');

    auto own = PcapngFile::open(path, 1, 65535, 16);
    ASSERT_NE(own, nullptr);
    RawFrame frame;
    ASSERT_TRUE(own->next(frame));
    EXPECT_EQ(frame.timestamp, 1'000'000);
    ASSERT_TRUE(own->next(frame));
    EXPECT_EQ(frame.timestamp, 2'000'000);
    EXPECT_EQ(frame.bytes[0], 'b');
    EXPECT_FALSE(own->next(frame));
    EXPECT_FALSE(own->needs_libpcap());
    EXPECT_EQ(own->layout().sections, 2u);
    EXPECT_TRUE(own->stop_reason().empty());

    CaptureReader reader({path}, "");
    std::vector<std::pair<Micros, std::uint8_t>> frames;
    while (const RawFrame* next = reader.next()) {
        frames.emplace_back(next->timestamp, next->bytes[0]);
    }
    const std::vector<std::pair<Micros, std::uint8_t>> both = {{1'000'000, 'a'}, {2'000'000, 'b'}};
    EXPECT_EQ(frames, both);
    EXPECT_TRUE(reader.warnings().empty());
    EXPECT_EQ(reader.files()[0].frames, 2u);
    EXPECT_EQ(reader.files()[0].sections, 2u);
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace ephemera
