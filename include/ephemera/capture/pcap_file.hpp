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

// A 32-bit field as a little-endian file stores it, at any alignment.
inline std::uint32_t little_endian(const std::uint8_t* at) noexcept {
    return static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
           static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
}

// Classic pcap files (version 2.4).
class PcapFile {
  public:
    // nullptr when `path` is not a classic pcap file (version 2.4, no FCS bits in its link type)
    // of a link type ephemera decodes, or not a regular file: the caller reads it with libpcap
    // instead. `snapshot` is libpcap's adjusted snapshot length for the file (pcap_snapshot).
    // `read_size` is for tests, which make it small so records straddle refills everywhere.
    static std::unique_ptr<PcapFile> open(const std::string& path, int link_type, int snapshot,
                                          std::size_t read_size = FileBuffer::default_read_size);

    // The next record, its bytes valid until the next call; false at the end of the file, or
    // where a damaged record stops reading (then stop_reason() says why, in libpcap's words).
    bool next(RawFrame& frame) noexcept {
        constexpr std::size_t header_size = 16;
        const std::uint8_t* header = file_.view(offset_, header_size);
        if (header == nullptr) return at_end(offset_ + header_size);
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

    // Lets `helper` read the file ahead from another thread (FileBuffer::share_reading).
    void share_reading(ReadAhead* helper) { file_.share_reading(helper); }

  private:
    PcapFile() = default;
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
    std::uint32_t max_snaplen_ = 262144;  // libpcap's limit for every link type decoded here
    bool cut_off_ = false;
    std::string stop_reason_;
};

// pcapng files, block by block while they are of the common shape: one section, interfaces of
// one link type and snapshot length, microsecond or nanosecond resolution, Enhanced Packet Blocks
// (other blocks are skipped, as libpcap skips them). At the first block of any other kind (a
// second section, a Simple Packet Block, a time offset, a length libpcap would reject), next()
// stops and needs_libpcap() says so: the capture reader then has libpcap read the file from the
// top, skip the frames_read() frames it already has (read the same way), and go on. A file cut
// inside its last block is read up to the cut, as libpcap reads it.
class PcapngFile {
  public:
    // nullptr when `path` does not start with a pcapng section header, or is not a regular file.
    static std::unique_ptr<PcapngFile> open(const std::string& path, int link_type, int snapshot,
                                            std::size_t read_size = FileBuffer::default_read_size);

    bool next(RawFrame& frame) noexcept;
    bool cut_off() const noexcept { return cut_off_; }
    const std::string& stop_reason() const noexcept { return stop_reason_; }
    // Once next() has returned false: whether libpcap must read the rest.
    bool needs_libpcap() const noexcept { return needs_libpcap_; }
    // Frames next() has handed out.
    std::uint64_t frames_read() const noexcept { return frames_read_; }

    // Lets `helper` read the file ahead from another thread (FileBuffer::share_reading).
    void share_reading(ReadAhead* helper) { file_.share_reading(helper); }

  private:
    PcapngFile() = default;
    std::uint32_t field(const std::uint8_t* at) const noexcept;
    // Whether a block next() reads as it stands (an interface's resolution is recorded).
    bool usable_section_header(const std::uint8_t* block, std::uint32_t length) const noexcept;
    bool take_interface(const std::uint8_t* block, std::uint32_t length);
    bool usable_packet(const std::uint8_t* block, std::uint32_t length) const noexcept;
    bool stop(bool cut, std::string reason);
    bool hand_over() noexcept;

    FileBuffer file_;
    std::size_t offset_ = 0;  // where the next block starts
    bool swapped_ = false;
    int link_type_ = 0;
    std::uint32_t snapshot_ = 0;
    std::uint32_t interface_link_type_ = 0;
    std::uint32_t interface_snaplen_ = 0;
    std::vector<bool> nanoseconds_;  // per interface
    std::uint64_t frames_read_ = 0;
    bool finished_ = false;
    bool needs_libpcap_ = false;
    bool cut_off_ = false;  // the file ends inside its last block
    std::string stop_reason_;
};

}  // namespace ephemera
