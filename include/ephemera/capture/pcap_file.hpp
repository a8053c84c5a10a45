// Capture files read by the project itself: per packet, one record header parsed and a pointer
// to the record where it lies in a FileBuffer, with no per-packet copy and no library call. The
// capture reader uses these for regular files once libpcap has opened and checked them; standard
// input and anything unusual stay with libpcap. Where a file is damaged they behave as libpcap
// does (same packets, same reason to stop), which the tests check on tcpdump's corpus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ephemera/capture/file_buffer.hpp"
#include "ephemera/capture/raw_frame.hpp"

namespace ephemera {

// The link types the project's own readers take: those ephemera decodes, all of which libpcap
// limits to 262,144 bytes a packet. Files of any other type (some have larger limits) are read by
// libpcap.
bool own_reader_link_type(int link_type) noexcept;

// A file's link type (LINKTYPE_*) as libpcap numbers it on this system (DLT_*): the same number
// but for the few that differ (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux).
int dlt_of_linktype(std::uint32_t linktype) noexcept;
// libpcap's largest packet for the link types the project reads, and the snapshot length it
// uses for a file header's or interface's `snaplen` (0 or too large: the largest).
inline constexpr std::uint32_t max_snapshot = 262144;
inline std::uint32_t adjusted_snapshot(std::uint32_t snaplen) noexcept {
    return snaplen == 0 || snaplen > max_snapshot ? max_snapshot : snaplen;
}

// What a capture held besides its packets: the link types of its sections or interfaces (DLT
// numbers, in order of first appearance) and how many sections it has (a second pcap file header
// inside a stream, as `cat a.pcap b.pcap` makes, starts a new one).
struct CaptureLayout {
    std::vector<int> link_types;
    std::uint32_t sections = 1;
    void note_link_type(int link_type) {
        for (const int seen : link_types)
            if (seen == link_type) return;
        link_types.push_back(link_type);
    }
};

// A 32-bit field as a little-endian file stores it, at any alignment.
inline std::uint32_t little_endian(const std::uint8_t* at) noexcept {
    return static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
           static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
}

// The four magic numbers of a classic pcap file header, as the first 4 bytes read little-endian.
inline bool is_pcap_magic(std::uint32_t value) noexcept {
    return value == 0xa1b2c3d4 || value == 0xa1b23c4d || value == 0xd4c3b2a1 || value == 0x4d3cb2a1;
}

// Classic pcap files (version 2.4). A file header where a record header should be (two files
// joined into one stream) starts a new section with its own byte order, resolution, link type
// and snapshot length, and reading goes on.
class PcapFile {
  public:
    // nullptr when `path` is not a classic pcap file (version 2.4, no FCS bits in its link type)
    // of a link type ephemera decodes, or not a regular file: the caller reads it with libpcap
    // instead. `snapshot` is libpcap's adjusted snapshot length for the file (pcap_snapshot).
    // `read_size` is for tests, which make it small so records straddle refills everywhere.
    static std::unique_ptr<PcapFile> open(const std::string& path, int link_type, int snapshot,
                                          std::size_t read_size = FileBuffer::default_read_size);
    // A stream (standard input, a decompressor) whose first bytes are a classic pcap header;
    // nullptr when they are not one of version 2.
    static std::unique_ptr<PcapFile> open(std::unique_ptr<ByteStream> stream,
                                          std::size_t read_size = FileBuffer::default_read_size);

    // The next record, its bytes valid until the next call; false at the end of the file, or
    // where a damaged record stops reading (then stop_reason() says why, in libpcap's words).
    bool next(RawFrame& frame) noexcept {
        constexpr std::size_t header_size = 16;
        const std::uint8_t* header = file_.view(offset_, header_size);
        if (header == nullptr) return at_end(offset_ + header_size);
        while (is_pcap_magic(little_endian(header))) [[unlikely]] {
                if (!start_section()) break;
                header = file_.view(offset_, header_size);
                if (header == nullptr) return at_end(offset_ + header_size);
            }
        const std::uint32_t seconds = field(header);
        const std::uint32_t fraction = field(header + 4);
        std::uint32_t captured = field(header + 8);
        const std::uint32_t length = field(header + 12);
        if (captured > max_snaplen_) return bad_length(captured);
        const std::size_t stored = captured;
        if (captured > snapshot_) captured = snapshot_;  // libpcap keeps the first snapshot bytes
        // The whole record, which a refill may have moved to the front of the buffer.
        header = file_.view(offset_, header_size + stored);
        if (header == nullptr) return cut_in_data(stored);
        // As libpcap reads them, so a damaged file's times come out as libpcap's do: signed in
        // the machine's byte order, unsigned once swapped (its SWAPLONG yields an unsigned int).
        const Micros whole =
            swapped_ ? Micros{seconds} : Micros{static_cast<std::int32_t>(seconds)};
        const Micros part =
            swapped_ ? Micros{fraction} : Micros{static_cast<std::int32_t>(fraction)};
        frame.timestamp = whole * 1'000'000 + (nanoseconds_ ? part / 1000 : part);
        frame.link_type = link_type_;
        frame.bytes = {header + header_size, captured};
        frame.wire_length = length;
        offset_ += header_size + stored;
        return true;
    }

    bool cut_off() const noexcept { return cut_off_; }
    const std::string& stop_reason() const noexcept { return stop_reason_; }
    const CaptureLayout& layout() const noexcept { return layout_; }
    // Once next() has returned false: the input's bytes after the last record read.
    std::size_t bytes_unread() const noexcept { return unread_; }

    // Lets `helper` read the file ahead from another thread (FileBuffer::share_reading).
    void share_reading(ReadAhead* helper) { file_.share_reading(helper); }

  private:
    PcapFile() = default;
    // Reads the file header at offset_ (the first, or one inside the stream): false when it is
    // not one of version 2.4, and then nothing changed.
    bool read_file_header(bool first) noexcept;
    bool start_section() noexcept { return read_file_header(false); }
    std::uint32_t field(const std::uint8_t* at) const noexcept {
        const std::uint32_t value = little_endian(at);
        return swapped_ ? __builtin_bswap32(value) : value;
    }
    bool at_end(std::size_t wanted) noexcept;
    bool bad_length(std::uint32_t captured) noexcept;
    bool cut_in_data(std::size_t stored) noexcept;
    void stop_on_read_error() noexcept;

    FileBuffer file_;
    std::size_t offset_ = 0;  // where the next record starts in the file
    bool swapped_ = false;    // the file's byte order is not little-endian
    bool nanoseconds_ = false;
    int link_type_ = 0;
    std::uint32_t snapshot_ = 0;
    std::uint32_t max_snaplen_ = max_snapshot;  // libpcap's limit for every link type decoded here
    bool cut_off_ = false;
    std::string stop_reason_;
    std::size_t unread_ = 0;
    CaptureLayout layout_;
};

// pcapng files, block by block: sections, interfaces of any link types (each frame carries its
// interface's, as tshark reads a dumpcap capture of an Ethernet and a cooked interface),
// microsecond or nanosecond resolution, Enhanced Packet Blocks (other blocks are skipped, as
// libpcap skips them). At the first block of any other kind (a Simple Packet Block, a time
// offset, a length libpcap would reject), next() stops and needs_libpcap() says so: the capture
// reader then has libpcap read the file from the top, skip the frames_read() frames it already
// has (read the same way), and go on. A stream cannot be read again: there such a block stops
// reading, with the reason. A file cut inside its last block is read up to the cut, as libpcap
// reads it.
class PcapngFile {
  public:
    // nullptr when `path` does not start with a pcapng section header, or is not a regular file.
    static std::unique_ptr<PcapngFile> open(const std::string& path, int link_type, int snapshot,
                                            std::size_t read_size = FileBuffer::default_read_size);
    // A stream whose first bytes are a pcapng section header; nullptr when they are not.
    static std::unique_ptr<PcapngFile> open(std::unique_ptr<ByteStream> stream,
                                            std::size_t read_size = FileBuffer::default_read_size);

    bool next(RawFrame& frame) noexcept;
    bool cut_off() const noexcept { return cut_off_; }
    const std::string& stop_reason() const noexcept { return stop_reason_; }
    // Once next() has returned false: whether libpcap must read the rest.
    bool needs_libpcap() const noexcept { return needs_libpcap_; }
    // Frames next() has handed out.
    std::uint64_t frames_read() const noexcept { return frames_read_; }
    const CaptureLayout& layout() const noexcept { return layout_; }
    // Once next() has returned false: the input's bytes after the last block read.
    std::size_t bytes_unread() const noexcept { return unread_; }

    // Lets `helper` read the file ahead from another thread (FileBuffer::share_reading).
    void share_reading(ReadAhead* helper) { file_.share_reading(helper); }

  private:
    struct Interface {
        int link_type = 0;  // DLT
        std::uint32_t snapshot = 0;
        bool nanoseconds = false;
    };

    PcapngFile() = default;
    bool start(int link_type, int snapshot);
    std::uint32_t field(const std::uint8_t* at) const noexcept;
    // Whether a block next() reads as it stands (an interface's resolution is recorded).
    bool take_section_header(const std::uint8_t* block, std::uint32_t length) noexcept;
    bool take_interface(const std::uint8_t* block, std::uint32_t length);
    bool usable_packet(const std::uint8_t* block, std::uint32_t length) const noexcept;
    bool stop(bool cut, std::string reason);
    bool hand_over() noexcept;

    FileBuffer file_;
    std::size_t offset_ = 0;  // where the next block starts
    bool swapped_ = false;
    int link_type_ = 0;
    std::uint32_t snapshot_ = 0;
    std::vector<Interface> interfaces_;  // of the current section
    std::uint64_t frames_read_ = 0;
    bool finished_ = false;
    bool needs_libpcap_ = false;
    bool cut_off_ = false;  // the file ends inside its last block
    std::string stop_reason_;
    std::size_t unread_ = 0;
    CaptureLayout layout_;
};

}  // namespace ephemera
