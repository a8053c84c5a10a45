#include "ephemera/capture/pcap_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <system_error>

namespace ephemera {
namespace {

constexpr std::size_t file_header_size = 24;
constexpr std::size_t record_header_size = 16;
constexpr std::uint32_t magic_micro = 0xa1b2c3d4;
constexpr std::uint32_t magic_nano = 0xa1b23c4d;

std::uint16_t little_endian16(const std::uint8_t* at) {
    return static_cast<std::uint16_t>(at[0] | at[1] << 8);
}

}  // namespace

bool own_reader_link_type(int link_type) noexcept {
    switch (link_type) {
        case 0:    // NULL
        case 1:    // EN10MB
        case 12:   // RAW
        case 14:   // RAW (OpenBSD)
        case 108:  // LOOP
        case 113:  // LINUX_SLL
        case 228:  // IPV4
        case 229:  // IPV6
        case 276:  // LINUX_SLL2
            return true;
        default:
            return false;
    }
}

std::unique_ptr<PcapFile> PcapFile::open(const std::string& path, int link_type, int snapshot,
                                         std::size_t read_size) {
    static_assert(std::endian::native == std::endian::little, "fields are read little-endian");
    if (!own_reader_link_type(link_type) || snapshot <= 0) return nullptr;
    std::unique_ptr<PcapFile> reader(new PcapFile);
    if (!reader->file_.open(path, record_header_size + reader->max_snaplen_, read_size)) {
        return nullptr;
    }
    const std::uint8_t* header = reader->file_.view(0, file_header_size);
    if (header == nullptr) return nullptr;
    const std::uint32_t magic = little_endian(header);
    if (magic == magic_micro || magic == magic_nano) {
        reader->nanoseconds_ = magic == magic_nano;
    } else if (magic == __builtin_bswap32(magic_micro) || magic == __builtin_bswap32(magic_nano)) {
        reader->swapped_ = true;
        reader->nanoseconds_ = magic == __builtin_bswap32(magic_nano);
    } else {
        return nullptr;  // pcapng, or not a capture at all: libpcap's business
    }
    std::uint16_t major = little_endian16(header + 4);
    std::uint16_t minor = little_endian16(header + 6);
    if (reader->swapped_) {
        major = __builtin_bswap16(major);
        minor = __builtin_bswap16(minor);
    }
    const std::uint32_t file_link_type = reader->field(header + 20);
    // Older versions swap fields in places, and the upper bits of the link type carry FCS
    // lengths: libpcap knows those cases.
    if (major != 2 || minor != 4 || (file_link_type & 0xffff0000u) != 0) return nullptr;
    reader->offset_ = file_header_size;
    reader->link_type_ = link_type;
    reader->snapshot_ = static_cast<std::uint32_t>(snapshot);
    return reader;
}

bool PcapFile::at_end(std::size_t wanted) noexcept {
    const std::size_t size = file_.size();
    if (offset_ < size && stop_reason_.empty()) {
        cut_off_ = true;
        stop_reason_ =
            fmt::format("truncated dump file; tried to read {} header bytes, only got {}",
                        wanted - offset_, size - offset_);
    }
    stop_on_read_error();
    offset_ = size;
    return false;
}

bool PcapFile::bad_length(std::uint32_t captured) noexcept {
    stop_reason_ = captured > snapshot_
                       ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                                     captured, snapshot_)
                       : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                                     captured, max_snaplen_);
    offset_ = file_.size();
    return false;
}

bool PcapFile::cut_in_data(std::size_t stored) noexcept {
    cut_off_ = true;
    // As libpcap words it: it reads the first snapshot bytes, then the rest to discard them.
    const std::size_t left = file_.size() - offset_ - record_header_size;
    const std::size_t kept = std::min<std::size_t>(stored, snapshot_);
    stop_reason_ = fmt::format("truncated dump file; tried to read {} captured bytes, only got {}",
                               left < kept ? kept : stored, left);
    stop_on_read_error();
    offset_ = file_.size();
    return false;
}

// A read that failed is reported as libpcap reports it, not as a file cut short.
void PcapFile::stop_on_read_error() noexcept {
    if (file_.read_error() == 0) return;
    cut_off_ = false;
    stop_reason_ = fmt::format("error reading dump file: {}",
                               std::system_category().message(file_.read_error()));
}

namespace {

constexpr std::uint32_t section_header_block = 0x0A0D0D0A;
constexpr std::uint32_t interface_block = 1;
constexpr std::uint32_t simple_packet_block = 3;
constexpr std::uint32_t obsolete_packet_block = 2;
constexpr std::uint32_t enhanced_packet_block = 6;
constexpr std::uint32_t byte_order_magic = 0x1A2B3C4D;
constexpr std::size_t largest_block = 256 * 1024;  // larger ones go to libpcap
constexpr std::uint16_t option_end = 0;
constexpr std::uint16_t option_tsresol = 9;
constexpr std::uint16_t option_tsoffset = 14;

}  // namespace

std::uint32_t PcapngFile::field(const std::uint8_t* at) const noexcept {
    const std::uint32_t value = little_endian(at);
    return swapped_ ? __builtin_bswap32(value) : value;
}

std::unique_ptr<PcapngFile> PcapngFile::open(const std::string& path, int link_type, int snapshot,
                                             std::size_t read_size) {
    if (!own_reader_link_type(link_type) || snapshot <= 0) return nullptr;
    std::unique_ptr<PcapngFile> reader(new PcapngFile);
    if (!reader->file_.open(path, largest_block, read_size)) return nullptr;
    reader->link_type_ = link_type;
    reader->snapshot_ = static_cast<std::uint32_t>(snapshot);
    const std::uint8_t* header = reader->file_.view(0, 12);
    if (header == nullptr || little_endian(header) != section_header_block) return nullptr;
    const std::uint32_t order = little_endian(header + 8);
    if (order != byte_order_magic && order != __builtin_bswap32(byte_order_magic)) return nullptr;
    reader->swapped_ = order != byte_order_magic;
    return reader;
}

// Each block is checked before it is used, by libpcap's rules for the blocks read here; anything
// doubtful goes to libpcap, which reads it as it reads it.
bool PcapngFile::next(RawFrame& frame) noexcept {
    if (finished_) return false;
    for (;;) {
        const std::size_t size = file_.size();
        if (offset_ >= size) return stop(false, {});
        const std::size_t left = size - offset_;
        if (left < 8) {
            return stop(
                true, fmt::format("truncated pcapng dump file; tried to read 8 bytes, only got {}",
                                  left));
        }
        const std::uint8_t* head = file_.view(offset_, 8);
        if (head == nullptr) return hand_over();  // unreadable: libpcap says why
        const std::uint32_t type = field(head);
        const std::uint32_t length = field(head + 4);
        if (length < 12 || length % 4 != 0 || length > largest_block) return hand_over();
        if (left < length) {
            return stop(
                true, fmt::format("truncated pcapng dump file; tried to read {} bytes, only got {}",
                                  length - 8, left - 8));
        }
        const std::uint8_t* block = file_.view(offset_, length);
        if (block == nullptr) return hand_over();
        if (field(block + length - 4) != length) return hand_over();  // the trailer repeats it
        if (type == enhanced_packet_block) {
            if (!usable_packet(block, length)) return hand_over();
            offset_ += length;
            const std::uint32_t interface = field(block + 8);
            const std::uint64_t ticks = std::uint64_t{field(block + 12)} << 32 | field(block + 16);
            frame.timestamp = static_cast<Micros>(nanoseconds_[interface] ? ticks / 1000 : ticks);
            frame.link_type = link_type_;
            frame.bytes = {block + 28, field(block + 20)};
            frame.wire_length = field(block + 24);
            ++frames_read_;
            return true;
        }
        if (type == section_header_block) {
            if (!usable_section_header(block, length)) return hand_over();
        } else if (type == interface_block) {
            if (!take_interface(block, length)) return hand_over();
        } else if (type == simple_packet_block || type == obsolete_packet_block) {
            return hand_over();
        }
        offset_ += length;
    }
}

bool PcapngFile::usable_section_header(const std::uint8_t* block,
                                       std::uint32_t length) const noexcept {
    if (offset_ != 0 || length < 28) return false;  // a second section: libpcap's business
    const std::uint32_t version = field(block + 12);
    const auto major = static_cast<std::uint16_t>(swapped_ ? version >> 16 : version);
    const auto minor = static_cast<std::uint16_t>(swapped_ ? version : version >> 16);
    return major == 1 && minor == 0;
}

bool PcapngFile::take_interface(const std::uint8_t* block, std::uint32_t length) {
    if (length < 20) return false;
    const std::uint32_t kind = field(block + 8);
    const std::uint32_t link = swapped_ ? kind >> 16 : kind & 0xffff;
    const std::uint32_t snaplen = field(block + 12);
    if (nanoseconds_.empty()) {
        interface_link_type_ = link;
        interface_snaplen_ = snaplen;
    } else if (link != interface_link_type_ || snaplen != interface_snaplen_) {
        return false;
    }
    // Options: code and length (16 bits each), the value padded to 32 bits.
    bool nanoseconds = false;
    for (std::size_t option = 16; option < length - 4;) {
        if (option + 4 > length - 4) return false;
        const std::uint32_t option_head = field(block + option);
        const auto code = static_cast<std::uint16_t>(swapped_ ? option_head >> 16 : option_head);
        const auto size = static_cast<std::uint16_t>(swapped_ ? option_head : option_head >> 16);
        if (code == option_end) {
            if (size != 0) return false;  // libpcap rejects the file
            break;
        }
        const std::size_t padded = (size + 3u) & ~3u;
        if (option + 4 + padded > length - 4) return false;
        if (code == option_tsoffset) return false;
        if (code == option_tsresol) {
            if (size != 1) return false;
            const std::uint8_t resolution = block[option + 4];
            if (resolution != 6 && resolution != 9) return false;
            nanoseconds = resolution == 9;
        }
        option += 4 + padded;
    }
    nanoseconds_.push_back(nanoseconds);
    return true;
}

bool PcapngFile::usable_packet(const std::uint8_t* block, std::uint32_t length) const noexcept {
    if (length < 32 || field(block + 8) >= nanoseconds_.size()) return false;
    const std::uint32_t captured = field(block + 20);
    return captured <= snapshot_ && 28 + ((captured + 3u) & ~3u) + 4 <= length;
}

bool PcapngFile::stop(bool cut, std::string reason) {
    finished_ = true;
    cut_off_ = cut;
    stop_reason_ = std::move(reason);
    return false;
}

bool PcapngFile::hand_over() noexcept {
    finished_ = true;
    needs_libpcap_ = true;
    return false;
}

}  // namespace ephemera
