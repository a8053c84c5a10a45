#include "ephemera/capture/file_buffer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ephemera {

FileBuffer::~FileBuffer() {
    share_reading(nullptr);  // no helper may still be reading into the spare buffer
    if (descriptor_ >= 0) close(descriptor_);
}

bool FileBuffer::open(const std::string& path, std::size_t largest_piece, std::size_t read_size) {
    descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor_ < 0) return false;
    struct stat info {};
    if (fstat(descriptor_, &info) != 0 || !S_ISREG(info.st_mode)) return false;
    posix_fadvise(descriptor_, 0, 0, POSIX_FADV_SEQUENTIAL);  // read ahead further
    size_ = static_cast<std::size_t>(info.st_size);
    allocate(largest_piece, read_size);
    return true;
}

void FileBuffer::open(std::unique_ptr<ByteStream> stream, std::size_t largest_piece,
                      std::size_t read_size) {
    stream_ = std::move(stream);
    size_ = SIZE_MAX;
    allocate(largest_piece, read_size);
}

void FileBuffer::allocate(std::size_t largest_piece, std::size_t read_size) {
    read_size_ = std::max<std::size_t>(read_size, 1);
    headroom_ = largest_piece;
    capacity_ = headroom_ + read_size_ + largest_piece;
    // Only the pages written are touched: a buffer costs about one read's worth of memory.
    data_ = std::make_unique_for_overwrite<std::uint8_t[]>(capacity_);
    held_ = data_.get() + headroom_;
}

const std::string& FileBuffer::stream_error() const noexcept {
    static const std::string none;
    return stream_ != nullptr ? stream_->error() : none;
}

std::ptrdiff_t FileBuffer::read_at_end(std::uint8_t* into, std::size_t room) noexcept {
    if (stream_ != nullptr) return stream_->read(into, room);
    for (;;) {
        const ssize_t got = pread(descriptor_, into, room, static_cast<off_t>(end_));
        if (got >= 0 || errno != EINTR) {
            if (got < 0) read_error_ = errno;
            return got;
        }
    }
}

// A stream cannot seek: what lies before `offset` is read and dropped.
bool FileBuffer::skip_stream_to(std::size_t offset) noexcept {
    while (end_ < offset) {
        const std::ptrdiff_t got = stream_->read(data_.get(), std::min(capacity_, offset - end_));
        if (got <= 0) {
            size_ = end_;
            return false;
        }
        end_ += static_cast<std::size_t>(got);
    }
    start_ = end_;
    return true;
}

std::size_t FileBuffer::bytes_after(std::size_t offset) noexcept {
    if (stream_ == nullptr) return size_ > offset ? size_ - offset : 0;
    std::size_t left = end_ > offset ? end_ - offset : 0;
    for (;;) {
        const std::ptrdiff_t got = stream_->read(data_.get(), capacity_);
        if (got <= 0) return left;
        left += static_cast<std::size_t>(got);
    }
}

void FileBuffer::share_reading(ReadAhead* helper) {
    if (helper_ != nullptr && offered_) helper_->take_back();
    offered_ = false;
    helper_ = helper;
    if (helper_ != nullptr && spare_ == nullptr && descriptor_ >= 0 && stream_ == nullptr) {
        spare_ = std::make_unique_for_overwrite<std::uint8_t[]>(capacity_);
    }
    offer_next_piece();
}

void FileBuffer::offer_next_piece() noexcept {
    if (helper_ == nullptr || spare_ == nullptr || stream_ != nullptr || end_ >= size_) return;
    helper_->offer(descriptor_, end_, std::min(read_size_, size_ - end_), spare_.get() + headroom_);
    offered_ = true;
}

const std::uint8_t* FileBuffer::refill(std::size_t offset, std::size_t wanted) noexcept {
    if (offset > size_ || wanted > size_ - offset || offset < start_) return nullptr;
    if (stream_ != nullptr && offset > end_ && !skip_stream_to(offset)) return nullptr;
    // What the buffer holds from `offset` on (a piece the last read cut) is kept, just before
    // where the reads go; they continue after it.
    const std::size_t kept = offset < end_ ? end_ - offset : 0;
    const std::uint8_t* keep = kept > 0 ? held_ + (offset - start_) : held_;
    // The piece after end_, if a helper has read it whole, comes as it is: the buffers swap.
    // (Not where the reader skips past it: then it is of no use.)
    const std::size_t ahead = offered_ ? std::min(read_size_, size_ - end_) : 0;
    const bool piece_read = offered_ && helper_->take_back();
    offered_ = false;
    const bool swapped = piece_read && offset <= end_;
    if (swapped) {
        std::memcpy(spare_.get() + headroom_ - kept, keep, kept);
        std::swap(data_, spare_);
    } else {
        std::memmove(data_.get() + headroom_ - kept, keep, kept);
    }
    std::uint8_t* held = data_.get() + headroom_ - kept;
    held_ = held;
    start_ = offset;
    end_ = offset + kept + (swapped ? ahead : 0);
    const std::size_t room_end = capacity_ - (headroom_ - kept);  // from held
    while (end_ - start_ < wanted) {
        const std::size_t room = std::min({room_end - (end_ - start_), size_ - end_, read_size_});
        const std::ptrdiff_t got = read_at_end(held + (end_ - start_), room);
        if (got > 0) {
            end_ += static_cast<std::size_t>(got);
        } else {
            // The file shrank since it was opened, ended, or cannot be read: it ends here.
            size_ = end_;
            return nullptr;
        }
    }
    offer_next_piece();
    return held;
}

}  // namespace ephemera
