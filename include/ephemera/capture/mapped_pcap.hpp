// Capture files read in place from a memory map: per packet, one record header parsed and a
// pointer into the map, with no copy and no library call. The capture reader uses these for
// regular files once libpcap has opened and checked them; standard input and anything unusual
// stay with libpcap. Where a file is damaged they behave as libpcap does (same packets, same
// reason to stop), which the tests check on tcpdump's corpus.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ephemera/capture/reader.hpp"

namespace ephemera {

// The reader moves a window along the file every release_every bytes: pages already read are
// given back (MADV_DONTNEED), so at most 2 MiB of the file is resident however large it is, and
// the next release_every bytes are mapped in at once (MADV_POPULATE_READ), which costs less than
// faulting them in page by page. 1 MiB measured fastest on the benchmark's capture: 4 MiB
// windows held 3 MiB more and were slower, 256 KiB ones 0.7 MiB less and slower again. Gives back
// [released, offset) and moves `released` on.
inline constexpr std::size_t release_every = 1u << 20;
void move_window(const std::uint8_t* data, std::size_t size, std::size_t& released,
                 std::size_t offset) noexcept;

class MappedPcap {
  public:
    // nullptr when `path` is not a classic pcap file (version 2.4, no FCS bits in its link type)
    // that can be mapped: the caller reads it with libpcap instead. `snapshot` is libpcap's
    // adjusted snapshot length for the file (pcap_snapshot).
    static std::unique_ptr<MappedPcap> open(const std::string& path, int link_type, int snapshot);
    ~MappedPcap();
    MappedPcap(const MappedPcap&) = delete;
    MappedPcap& operator=(const MappedPcap&) = delete;

    // The next record; false at the end of the file, or where a damaged record stops reading
    // (then stop_reason() says why, in libpcap's words).
    bool next(RawFrame& frame) noexcept {
        constexpr std::size_t header_size = 16;
        // The previous frame is done with once next() is called.
        if (offset_ - released_ >= release_every) move_window(data_, size_, released_, offset_);
        if (offset_ + header_size > size_) return at_end(offset_ + header_size);
        const std::uint8_t* header = data_ + offset_;
        const std::uint32_t seconds = field(header);
        const std::uint32_t fraction = field(header + 4);
        std::uint32_t captured = field(header + 8);
        const std::uint32_t length = field(header + 12);
        if (captured > max_snaplen_) return bad_length(captured);
        const std::size_t stored = captured;
        if (captured > snapshot_) captured = snapshot_;  // libpcap keeps the first snapshot bytes
        if (offset_ + header_size + stored > size_) return cut_in_data(stored);
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

  private:
    MappedPcap() = default;
    std::uint32_t field(const std::uint8_t* at) const noexcept {
        std::uint32_t value =
            static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
            static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
        return swapped_ ? __builtin_bswap32(value) : value;
    }
    bool at_end(std::size_t wanted) noexcept;
    bool bad_length(std::uint32_t captured) noexcept;
    bool cut_in_data(std::size_t stored) noexcept;

    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t offset_ = 0;
    std::size_t released_ = 0;  // pages before this offset are given back
    bool swapped_ = false;      // the file's byte order is not little-endian
    bool nanoseconds_ = false;
    int link_type_ = 0;
    std::uint32_t snapshot_ = 0;
    std::uint32_t max_snaplen_ = 262144;  // libpcap's limit for every link type decoded here
    bool cut_off_ = false;
    std::string stop_reason_;
};

// pcapng files of the common shape, read in place: one section, interfaces of one link type and
// snapshot length, microsecond or nanosecond resolution, Enhanced Packet Blocks (other blocks are
// skipped, as libpcap skips them). open() walks every block header first and returns nullptr at
// anything else (a second section, Simple Packet Blocks, time offsets, a length libpcap would
// reject), so that such a file goes to libpcap whole. A file cut inside its last block is read up
// to the cut, as libpcap reads it.
class MappedPcapng {
  public:
    static std::unique_ptr<MappedPcapng> open(const std::string& path, int link_type, int snapshot);
    ~MappedPcapng();
    MappedPcapng(const MappedPcapng&) = delete;
    MappedPcapng& operator=(const MappedPcapng&) = delete;

    bool next(RawFrame& frame) noexcept;
    bool cut_off() const noexcept { return !stop_reason_.empty(); }
    const std::string& stop_reason() const noexcept { return stop_reason_; }

  private:
    MappedPcapng() = default;
    std::uint32_t field(std::size_t at) const noexcept;
    bool walk(int snapshot);

    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t offset_ = 0;
    std::size_t released_ = 0;
    std::size_t end_ = 0;  // where the last whole block ends
    bool swapped_ = false;
    int link_type_ = 0;
    std::uint32_t snapshot_ = 0;
    std::vector<bool> nanoseconds_;  // per interface
    std::string stop_reason_;        // set when the file is cut inside its last block
};

}  // namespace ephemera
