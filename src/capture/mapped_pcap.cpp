#include "ephemera/capture/mapped_pcap.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace ephemera {
namespace {

constexpr std::size_t file_header_size = 24;
constexpr std::uint32_t magic_micro = 0xa1b2c3d4;
constexpr std::uint32_t magic_nano = 0xa1b23c4d;

std::uint32_t little_endian(const std::uint8_t* at) {
    return static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
           static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
}

std::uint16_t little_endian16(const std::uint8_t* at) {
    return static_cast<std::uint16_t>(at[0] | at[1] << 8);
}

// The link types read in place: those ephemera decodes, all of which libpcap limits to 262,144
// bytes a packet. Files of any other type (some have larger limits) are read by libpcap.
bool mapped_link_type(int link_type) {
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

// Maps a whole regular file read-only; nullptr and no map when it cannot.
const std::uint8_t* map_file(const std::string& path, std::size_t& size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    struct stat info {};
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        static_cast<std::size_t>(info.st_size) < file_header_size) {
        close(fd);
        return nullptr;
    }
    size = static_cast<std::size_t>(info.st_size);
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);  // the map keeps the file
    if (map == MAP_FAILED) return nullptr;
    return static_cast<const std::uint8_t*>(map);
}

}  // namespace

std::unique_ptr<MappedPcap> MappedPcap::open(const std::string& path, int link_type, int snapshot) {
    static_assert(std::endian::native == std::endian::little, "fields are read little-endian");
    if (!mapped_link_type(link_type)) return nullptr;
    std::size_t size = 0;
    const std::uint8_t* map = map_file(path, size);
    if (map == nullptr) return nullptr;
    madvise(const_cast<std::uint8_t*>(map), size, MADV_SEQUENTIAL);  // read ahead, drop behind

    std::unique_ptr<MappedPcap> reader(new MappedPcap);  // unmaps whatever happens next
    reader->data_ = map;
    reader->size_ = size;
    const std::uint8_t* header = reader->data_;
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
    if (major != 2 || minor != 4 || (file_link_type & 0xffff0000u) != 0 || snapshot <= 0) {
        return nullptr;
    }
    reader->offset_ = file_header_size;
    reader->link_type_ = link_type;
    reader->snapshot_ = static_cast<std::uint32_t>(snapshot);
    return reader;
}

MappedPcap::~MappedPcap() {
    if (data_ != nullptr) munmap(const_cast<std::uint8_t*>(data_), size_);
}

namespace {

void release_pages(const std::uint8_t* data, std::size_t& released, std::size_t offset) noexcept {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t end = offset / page * page;
    if (end > released) {
        madvise(const_cast<std::uint8_t*>(data) + released, end - released, MADV_DONTNEED);
        released = end;
    }
}

}  // namespace

void move_window(const std::uint8_t* data, std::size_t size, std::size_t& released,
                 std::size_t offset) noexcept {
    release_pages(data, released, offset);
    const std::size_t end = std::min(size, offset + release_every);
    if (offset >= end) return;
#ifdef MADV_POPULATE_READ
    // Linux 5.14 and later; an older kernel answers EINVAL and the reader faults as before.
    const std::size_t first_page = released;  // page-aligned, at or just before offset
    madvise(const_cast<std::uint8_t*>(data) + first_page, end - first_page, MADV_POPULATE_READ);
#endif
}

bool MappedPcap::at_end(std::size_t wanted) noexcept {
    if (offset_ < size_ && stop_reason_.empty()) {
        cut_off_ = true;
        stop_reason_ =
            fmt::format("truncated dump file; tried to read {} header bytes, only got {}",
                        wanted - offset_, size_ - offset_);
    }
    offset_ = size_;
    return false;
}

bool MappedPcap::bad_length(std::uint32_t captured) noexcept {
    stop_reason_ = captured > snapshot_
                       ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                                     captured, snapshot_)
                       : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                                     captured, max_snaplen_);
    offset_ = size_;
    return false;
}

bool MappedPcap::cut_in_data(std::size_t stored) noexcept {
    cut_off_ = true;
    // As libpcap words it: it reads the first snapshot bytes, then the rest to discard them.
    const std::size_t left = size_ - offset_ - 16;
    const std::size_t kept = std::min<std::size_t>(stored, snapshot_);
    stop_reason_ = fmt::format("truncated dump file; tried to read {} captured bytes, only got {}",
                               left < kept ? kept : stored, left);
    offset_ = size_;
    return false;
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

std::uint32_t MappedPcapng::field(std::size_t at) const noexcept {
    const std::uint32_t value = little_endian(data_ + at);
    return swapped_ ? __builtin_bswap32(value) : value;
}

std::unique_ptr<MappedPcapng> MappedPcapng::open(const std::string& path, int link_type,
                                                 int snapshot) {
    if (!mapped_link_type(link_type)) return nullptr;
    std::size_t size = 0;
    const std::uint8_t* data = map_file(path, size);
    if (data == nullptr) return nullptr;
    std::unique_ptr<MappedPcapng> reader(new MappedPcapng);
    reader->data_ = data;
    reader->size_ = size;
    reader->link_type_ = link_type;
    if (little_endian(data) != section_header_block || snapshot <= 0) return nullptr;
    const std::uint32_t order = little_endian(data + 8);
    if (order != byte_order_magic && order != __builtin_bswap32(byte_order_magic)) return nullptr;
    reader->swapped_ = order != byte_order_magic;
    if (!reader->walk(snapshot)) return nullptr;
    madvise(const_cast<std::uint8_t*>(data), size, MADV_SEQUENTIAL);
    return reader;
}

MappedPcapng::~MappedPcapng() {
    if (data_ != nullptr) munmap(const_cast<std::uint8_t*>(data_), size_);
}

// Every block header, once: true when the whole file has the shape next() reads, and where it
// ends. libpcap's rules for what is an error are kept by sending every doubtful file to it.
bool MappedPcapng::walk(int snapshot) {
    std::uint32_t interface_link_type = 0;
    std::uint32_t interface_snaplen = 0;
    std::size_t at = 0;
    while (at < size_) {
        // Give walked pages back as next() does, or the walk alone would map the whole file.
        if (at - released_ >= release_every) release_pages(data_, released_, at);
        const std::size_t left = size_ - at;
        if (left < 8) {
            stop_reason_ =
                fmt::format("truncated pcapng dump file; tried to read 8 bytes, only got {}", left);
            break;
        }
        const std::uint32_t type = field(at);
        const std::uint32_t length = field(at + 4);
        if (length < 12 || length % 4 != 0 || length > largest_block) return false;
        if (left < length) {
            stop_reason_ =
                fmt::format("truncated pcapng dump file; tried to read {} bytes, only got {}",
                            length - 8, left - 8);
            break;
        }
        if (field(at + length - 4) != length) return false;  // the trailer repeats the length
        if (type == section_header_block) {
            if (at != 0 || length < 28) return false;
            const std::uint32_t version = field(at + 12);
            const std::uint16_t major =
                static_cast<std::uint16_t>(swapped_ ? version >> 16 : version);
            const std::uint16_t minor =
                static_cast<std::uint16_t>(swapped_ ? version : version >> 16);
            if (major != 1 || minor != 0) return false;
        } else if (type == interface_block) {
            if (length < 20) return false;
            const std::uint32_t kind = field(at + 8);
            const std::uint32_t link = swapped_ ? kind >> 16 : kind & 0xffff;
            const std::uint32_t snaplen = field(at + 12);
            if (nanoseconds_.empty()) {
                interface_link_type = link;
                interface_snaplen = snaplen;
            } else if (link != interface_link_type || snaplen != interface_snaplen) {
                return false;
            }
            // Options: code and length (16 bits each), the value padded to 32 bits.
            bool nanoseconds = false;
            for (std::size_t option = at + 16; option < at + length - 4;) {
                if (option + 4 > at + length - 4) return false;
                const std::uint32_t head = field(option);
                const auto code = static_cast<std::uint16_t>(swapped_ ? head >> 16 : head);
                const auto size = static_cast<std::uint16_t>(swapped_ ? head : head >> 16);
                if (code == option_end) {
                    if (size != 0) return false;  // libpcap rejects the file
                    break;
                }
                const std::size_t padded = (size + 3u) & ~3u;
                if (option + 4 + padded > at + length - 4) return false;
                if (code == option_tsoffset) return false;
                if (code == option_tsresol) {
                    if (size != 1) return false;
                    const std::uint8_t resolution = data_[option + 4];
                    if (resolution != 6 && resolution != 9) return false;
                    nanoseconds = resolution == 9;
                }
                option += 4 + padded;
            }
            nanoseconds_.push_back(nanoseconds);
        } else if (type == enhanced_packet_block) {
            if (length < 32 || field(at + 8) >= nanoseconds_.size()) return false;
            const std::uint32_t captured = field(at + 20);
            if (captured > static_cast<std::uint32_t>(snapshot) ||
                28 + ((captured + 3u) & ~3u) + 4 > length) {
                return false;
            }
        } else if (type == simple_packet_block || type == obsolete_packet_block) {
            return false;
        }
        at += length;
    }
    release_pages(data_, released_, at);
    released_ = 0;  // next() starts again from the top
    end_ = at;
    snapshot_ = static_cast<std::uint32_t>(snapshot);
    return !nanoseconds_.empty();
}

bool MappedPcapng::next(RawFrame& frame) noexcept {
    if (offset_ - released_ >= release_every) move_window(data_, size_, released_, offset_);
    while (offset_ < end_) {
        const std::size_t at = offset_;
        const std::uint32_t type = field(at);
        offset_ += field(at + 4);
        if (type != enhanced_packet_block) continue;
        const std::uint32_t interface = field(at + 8);
        const std::uint64_t ticks = std::uint64_t{field(at + 12)} << 32 | field(at + 16);
        frame.timestamp = static_cast<Micros>(nanoseconds_[interface] ? ticks / 1000 : ticks);
        frame.link_type = link_type_;
        frame.bytes = {data_ + at + 28, field(at + 20)};
        frame.wire_length = field(at + 24);
        return true;
    }
    return false;
}

}  // namespace ephemera
