#include "ephemera/capture/mapped_pcap.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

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

}  // namespace

std::unique_ptr<MappedPcap> MappedPcap::open(const std::string& path, int link_type, int snapshot) {
    static_assert(std::endian::native == std::endian::little, "fields are read little-endian");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    struct stat info {};
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        static_cast<std::size_t>(info.st_size) < file_header_size) {
        close(fd);
        return nullptr;
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);  // the map keeps the file
    if (map == MAP_FAILED) return nullptr;
    madvise(map, size, MADV_SEQUENTIAL);  // read ahead, drop behind

    std::unique_ptr<MappedPcap> reader(new MappedPcap);
    reader->data_ = static_cast<const std::uint8_t*>(map);
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

void MappedPcap::release_read_pages() noexcept {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t end = offset_ / page * page;
    if (end > released_) {
        madvise(const_cast<std::uint8_t*>(data_) + released_, end - released_, MADV_DONTNEED);
        released_ = end;
    }
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
    stop_reason_ = fmt::format("truncated dump file; tried to read {} captured bytes, only got {}",
                               std::min<std::size_t>(stored, snapshot_), size_ - offset_ - 16);
    offset_ = size_;
    return false;
}

}  // namespace ephemera
