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

int dlt_of_linktype(std::uint32_t linktype) noexcept {
    switch (linktype) {
        case 100:
            return 11;  // ATM_RFC1483
        case 101:
            return 12;  // RAW
        case 102:
            return 15;  // SLIP_BSDOS
        case 103:
            return 16;  // PPP_BSDOS
        default:
            return static_cast<int>(linktype & 0xffff);  // the upper bits carry FCS lengths
    }
}

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
    if (!reader->read_file_header(true)) return nullptr;
    // Older versions swap fields in places, and the upper bits of the link type carry FCS
    // lengths: libpcap knows those cases.
    const std::uint8_t* header = reader->file_.view(0, file_header_size);
    if ((reader->field(header + 20) & 0xffff0000u) != 0) return nullptr;
    reader->offset_ = file_header_size;
    // libpcap's view of the first header, which it has checked.
    reader->link_type_ = link_type;
    reader->snapshot_ = static_cast<std::uint32_t>(snapshot);
    reader->layout_ = {};
    reader->layout_.note_link_type(link_type);
    return reader;
}

std::unique_ptr<PcapFile> PcapFile::open(std::unique_ptr<ByteStream> stream,
                                         std::size_t read_size) {
    std::unique_ptr<PcapFile> reader(new PcapFile);
    reader->file_.open(std::move(stream), record_header_size + reader->max_snaplen_, read_size);
    if (!reader->read_file_header(true)) return nullptr;
    return reader;
}

bool PcapFile::read_file_header(bool first) noexcept {
    const std::uint8_t* header = file_.view(offset_, file_header_size);
    if (header == nullptr) return false;
    const std::uint32_t magic = little_endian(header);
    if (!is_pcap_magic(magic)) return false;
    const bool swapped =
        magic == __builtin_bswap32(magic_micro) || magic == __builtin_bswap32(magic_nano);
    std::uint16_t major = little_endian16(header + 4);
    std::uint16_t minor = little_endian16(header + 6);
    if (swapped) {
        major = __builtin_bswap16(major);
        minor = __builtin_bswap16(minor);
    }
    if (major != 2 || minor != 4) return false;
    swapped_ = swapped;
    nanoseconds_ = magic == magic_nano || magic == __builtin_bswap32(magic_nano);
    link_type_ = dlt_of_linktype(field(header + 20));
    snapshot_ = adjusted_snapshot(field(header + 16));
    offset_ += file_header_size;
    if (!first) ++layout_.sections;
    layout_.note_link_type(link_type_);
    return true;
}

bool PcapFile::at_end(std::size_t wanted) noexcept {
    if (offset_ < file_.size() && stop_reason_.empty()) unread_ = file_.bytes_after(offset_);
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
    unread_ = file_.bytes_after(offset_);
    stop_reason_ = captured > snapshot_
                       ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                                     captured, snapshot_)
                       : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                                     captured, max_snaplen_);
    file_.end_at(offset_);
    return false;
}

bool PcapFile::cut_in_data(std::size_t stored) noexcept {
    cut_off_ = true;
    unread_ = file_.bytes_after(offset_);
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
    if (!file_.stream_error().empty()) {
        cut_off_ = false;
        stop_reason_ = file_.stream_error();
        return;
    }
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
    if (!reader->start(link_type, snapshot)) return nullptr;
    return reader;
}

std::unique_ptr<PcapngFile> PcapngFile::open(std::unique_ptr<ByteStream> stream,
                                             std::size_t read_size) {
    std::unique_ptr<PcapngFile> reader(new PcapngFile);
    reader->file_.open(std::move(stream), largest_block, read_size);
    if (!reader->start(0, 0)) return nullptr;
    return reader;
}

// `link_type` and `snapshot`: libpcap's view of the first interface, when it opened the file.
bool PcapngFile::start(int link_type, int snapshot) {
    link_type_ = link_type;
    snapshot_ = static_cast<std::uint32_t>(snapshot);
    const std::uint8_t* header = file_.view(0, 12);
    if (header == nullptr || little_endian(header) != section_header_block) return false;
    const std::uint32_t order = little_endian(header + 8);
    if (order != byte_order_magic && order != __builtin_bswap32(byte_order_magic)) return false;
    swapped_ = order != byte_order_magic;
    layout_.sections = 0;  // counted as each section header is read
    return true;
}

// Each block is checked before it is used, by libpcap's rules for the blocks read here; anything
// doubtful goes to libpcap, which reads it as it reads it.
bool PcapngFile::next(RawFrame& frame) noexcept {
    if (finished_) return false;
    for (;;) {
        const std::size_t size = file_.size();
        if (offset_ >= size) return stop(false, {});
        // A stream's size is known only once it has ended: asking for 8 bytes finds out.
        const std::uint8_t* head = file_.view(offset_, 8);
        const std::size_t left = file_.size() - offset_;
        if (head == nullptr) {
            if (file_.read_error() != 0 || !file_.stream_error().empty()) return hand_over();
            if (left == 0) return stop(false, {});
            return stop(
                true, fmt::format("truncated pcapng dump file; tried to read 8 bytes, only got {}",
                                  left));
        }
        // A section header gives the byte order of everything up to the next one, itself too.
        if (little_endian(head) == section_header_block) {
            const std::uint8_t* order = file_.view(offset_, 12);
            if (order == nullptr) return hand_over();
            if (little_endian(order + 8) == byte_order_magic) {
                swapped_ = false;
            } else if (little_endian(order + 8) == __builtin_bswap32(byte_order_magic)) {
                swapped_ = true;
            } else {
                return hand_over();
            }
            head = order;
        }
        const std::uint32_t type = field(head);
        const std::uint32_t length = field(head + 4);
        if (length < 12 || length % 4 != 0 || length > largest_block) return hand_over();
        const std::uint8_t* block = file_.view(offset_, length);
        if (block == nullptr) {
            if (file_.read_error() != 0 || !file_.stream_error().empty()) return hand_over();
            const std::size_t got = file_.size() - offset_;
            return stop(
                true, fmt::format("truncated pcapng dump file; tried to read {} bytes, only got {}",
                                  length - 8, got - 8));
        }
        if (field(block + length - 4) != length) return hand_over();  // the trailer repeats it
        if (type == enhanced_packet_block) {
            if (!usable_packet(block, length)) return hand_over();
            offset_ += length;
            const Interface& interface = interfaces_[field(block + 8)];
            const std::uint64_t ticks = std::uint64_t{field(block + 12)} << 32 | field(block + 16);
            frame.timestamp = static_cast<Micros>(interface.nanoseconds ? ticks / 1000 : ticks);
            frame.link_type = interface.link_type;
            frame.bytes = {block + 28, std::min(field(block + 20), interface.snapshot)};
            frame.wire_length = field(block + 24);
            ++frames_read_;
            return true;
        }
        if (type == section_header_block) {
            if (!take_section_header(block, length)) return hand_over();
        } else if (type == interface_block) {
            if (!take_interface(block, length)) return hand_over();
        } else if (type == simple_packet_block || type == obsolete_packet_block) {
            return hand_over();
        }
        offset_ += length;
    }
}

bool PcapngFile::stop(bool cut, std::string reason) {
    if (!finished_) unread_ = file_.bytes_after(offset_);
    finished_ = true;
    cut_off_ = cut;
    stop_reason_ = std::move(reason);
    return false;
}

bool PcapngFile::take_section_header(const std::uint8_t* block, std::uint32_t length) noexcept {
    if (length < 28) return false;
    const std::uint32_t version = field(block + 12);
    const auto major = static_cast<std::uint16_t>(swapped_ ? version >> 16 : version);
    const auto minor = static_cast<std::uint16_t>(swapped_ ? version : version >> 16);
    if (major != 1 || minor != 0) return false;
    interfaces_.clear();  // interface numbers start again in each section
    ++layout_.sections;
    return true;
}

bool PcapngFile::take_interface(const std::uint8_t* block, std::uint32_t length) {
    if (length < 20) return false;
    const std::uint32_t kind = field(block + 8);
    Interface interface;
    interface.link_type = dlt_of_linktype(swapped_ ? kind >> 16 : kind & 0xffff);
    interface.snapshot = adjusted_snapshot(field(block + 12));
    // The first interface as libpcap saw it, when libpcap opened the file.
    if (layout_.link_types.empty() && link_type_ != 0 && snapshot_ != 0) {
        interface.link_type = link_type_;
        interface.snapshot = snapshot_;
    }
    // Options: code and length (16 bits each), the value padded to 32 bits.
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
            interface.nanoseconds = resolution == 9;
        }
        option += 4 + padded;
    }
    interfaces_.push_back(interface);
    layout_.note_link_type(interface.link_type);
    return true;
}

bool PcapngFile::usable_packet(const std::uint8_t* block, std::uint32_t length) const noexcept {
    if (length < 32 || field(block + 8) >= interfaces_.size()) return false;
    const std::uint32_t captured = field(block + 20);
    // A stream cannot be handed over: a record longer than its interface's snapshot is cut to it,
    // as libpcap cuts it.
    if (captured > interfaces_[field(block + 8)].snapshot && !file_.is_stream()) return false;
    return 28 + ((captured + 3u) & ~3u) + 4 <= length;
}

bool PcapngFile::hand_over() noexcept {
    if (file_.is_stream()) {
        // Nobody can read a stream again from the top: reading stops here, and says why.
        const std::string& error = file_.stream_error();
        return stop(false, error.empty() ? "a pcapng block ephemera does not read (a Simple Packet "
                                           "Block, a time offset or resolution other than micro- "
                                           "or nanoseconds, or a damaged block)"
                                         : error);
    }
    finished_ = true;
    needs_libpcap_ = true;
    return false;
}

}  // namespace ephemera
