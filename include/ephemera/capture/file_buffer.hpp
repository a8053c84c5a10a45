// A regular file read front to back through one buffer that pread() refills: the capture file
// readers of the project (pcap_file.hpp) take each record where it lies in the buffer, with no
// per-record copy and no library call.
//
// Why not a memory map, which the readers first used: it is slower here (docs/performance.md,
// "Reading the file"). A map pays per page to set up and tear down its entries, and giving pages
// back interrupts the other thread of the process to flush its TLB; read() copies page-cache
// pages in bulk into a buffer that stays in cache.
//
// That copy is much of what reading a record costs. Another thread with time to spare can take
// it over (share_reading): it reads the next piece into a second buffer, and the refill that
// needs it swaps the buffers instead of reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ephemera/capture/byte_stream.hpp"
#include "ephemera/capture/read_ahead.hpp"

namespace ephemera {

class FileBuffer {
  public:
    // How much one read asks for: 256 KiB keeps the buffer (this plus the largest piece) in a
    // core's cache.
    static constexpr std::size_t default_read_size = 256 * 1024;

    FileBuffer() = default;
    ~FileBuffer();
    FileBuffer(const FileBuffer&) = delete;
    FileBuffer& operator=(const FileBuffer&) = delete;

    // False when `path` cannot be opened or is not a regular file. `largest_piece` is the most
    // bytes one view() may ask for.
    bool open(const std::string& path, std::size_t largest_piece,
              std::size_t read_size = default_read_size);
    // The same for a stream (standard input, a pipe, a decompressor), read front to back: its
    // size is unknown until it ends, and view() never goes back before an earlier call's offset.
    void open(std::unique_ptr<ByteStream> stream, std::size_t largest_piece,
              std::size_t read_size = default_read_size);

    // The file's size when opened, or where reading it failed (it shrank, or an I/O error); a
    // stream's is SIZE_MAX until a view() has met its end.
    std::size_t size() const noexcept { return size_; }
    bool is_stream() const noexcept { return stream_ != nullptr; }
    // errno of the read that failed, 0 if none did; for a stream, its error() instead.
    int read_error() const noexcept { return read_error_; }
    const std::string& stream_error() const noexcept;
    // Bytes after `offset` that were never used: the rest of a file, or of a stream (read to its
    // end to count them).
    std::size_t bytes_after(std::size_t offset) noexcept;
    // Nothing from `offset` on is read any more: the reader gave up there.
    void end_at(std::size_t offset) noexcept {
        size_ = offset;
        start_ = end_ = offset;
    }

    // The file's bytes [offset, offset + wanted), valid until the next call; nullptr when the
    // file ends first. `offset` may not go back before an earlier call's; `wanted` is at most the
    // largest piece.
    const std::uint8_t* view(std::size_t offset, std::size_t wanted) noexcept {
        if (offset + wanted <= end_ && offset >= start_) return held_ + (offset - start_);
        return refill(offset, wanted);
    }

    // From here on each refill offers the piece after it to `helper` (nullptr: no more), for
    // another thread to read into a second buffer that the next refill then takes as it is.
    // The helper must outlive the sharing; the buffer takes its offer back before it goes.
    void share_reading(ReadAhead* helper);

  private:
    const std::uint8_t* refill(std::size_t offset, std::size_t wanted) noexcept;
    // Reads the next bytes after end_ into `into`: how many, 0 at the end, -1 on an error.
    std::ptrdiff_t read_at_end(std::uint8_t* into, std::size_t room) noexcept;
    bool skip_stream_to(std::size_t offset) noexcept;
    void allocate(std::size_t largest_piece, std::size_t read_size);
    void offer_next_piece() noexcept;

    // Each buffer: room for the piece a refill keeps (the part of a record the last read cut),
    // then what reads bring, which the kept bytes come to lie just before.
    std::size_t headroom_ = 0;  // the largest piece
    std::size_t capacity_ = 0;  // headroom_, read_size_ and the largest piece again
    int descriptor_ = -1;
    std::unique_ptr<ByteStream> stream_;  // instead of the descriptor
    int read_error_ = 0;
    std::unique_ptr<std::uint8_t[]> data_;
    std::unique_ptr<std::uint8_t[]> spare_;  // what a helper reads into
    ReadAhead* helper_ = nullptr;
    bool offered_ = false;                // the piece from end_ on is on offer to helper_
    const std::uint8_t* held_ = nullptr;  // where the file's byte start_ lies in data_
    std::size_t read_size_ = 0;
    std::size_t size_ = 0;
    std::size_t start_ = 0;  // the file offset of the first byte held
    std::size_t end_ = 0;    // ... and just past the last
};

}  // namespace ephemera
