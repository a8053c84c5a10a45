#include "ephemera/capture/file_buffer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ephemera {

FileBuffer::~FileBuffer() {
    if (descriptor_ >= 0) close(descriptor_);
}

bool FileBuffer::open(const std::string& path, std::size_t largest_piece, std::size_t read_size) {
    descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor_ < 0) return false;
    struct stat info {};
    if (fstat(descriptor_, &info) != 0 || !S_ISREG(info.st_mode)) return false;
    posix_fadvise(descriptor_, 0, 0, POSIX_FADV_SEQUENTIAL);  // read ahead further
    size_ = static_cast<std::size_t>(info.st_size);
    read_size_ = std::max<std::size_t>(read_size, 1);
    capacity_ = read_size_ + largest_piece;
    data_ = std::make_unique_for_overwrite<std::uint8_t[]>(capacity_);
    return true;
}

const std::uint8_t* FileBuffer::refill(std::size_t offset, std::size_t wanted) noexcept {
    if (offset > size_ || wanted > size_ - offset || offset < start_) return nullptr;
    // What the buffer holds from `offset` on (a piece the last read cut) moves to the front;
    // reads continue after it.
    const std::size_t kept = offset < end_ ? end_ - offset : 0;
    if (kept > 0) std::memmove(data_.get(), data_.get() + (offset - start_), kept);
    start_ = offset;
    end_ = offset + kept;
    while (end_ - start_ < wanted) {
        const std::size_t room = std::min({capacity_ - (end_ - start_), size_ - end_, read_size_});
        const ssize_t got =
            pread(descriptor_, data_.get() + (end_ - start_), room, static_cast<off_t>(end_));
        if (got > 0) {
            end_ += static_cast<std::size_t>(got);
        } else if (got < 0 && errno == EINTR) {
            continue;
        } else {
            // The file shrank since it was opened, or cannot be read: it ends here.
            if (got < 0) read_error_ = errno;
            size_ = end_;
            return nullptr;
        }
    }
    return data_.get();
}

}  // namespace ephemera
