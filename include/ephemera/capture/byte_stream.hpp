// Captures that cannot be read by offset: standard input, a pipe, or a compressed file (gzip,
// zstd, lz4), read front to back through the libraries that define those formats (Debian's
// zlib, libzstd and liblz4). The capture file readers (pcap_file.hpp) take records from them
// through a FileBuffer, as they take them from a regular file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ephemera {

enum class Compression : std::uint8_t { none, gzip, zstd, lz4 };
std::string_view compression_name(Compression compression) noexcept;

class ByteStream {
  public:
    virtual ~ByteStream() = default;
    // Up to `room` bytes into `into`: how many were read, 0 at the end of the stream, -1 when
    // reading failed (error() says why).
    virtual std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept = 0;
    const std::string& error() const noexcept { return error_; }

  protected:
    std::string error_;
};

// What an input is, from its first bytes.
struct OpenedStream {
    std::unique_ptr<ByteStream> stream;  // the decompressed bytes, from the first
    Compression compression = Compression::none;
    std::uint32_t magic = 0;    // its first 4 bytes (decompressed), little-endian; 0 if fewer
    bool regular_file = false;  // uncompressed and seekable: libpcap and pread may read it
};

// Opens `path` ("-": standard input) and looks at its first bytes: a compressed input is read
// through its decompressor. Throws UserError when it cannot be opened, is empty, or is
// compressed in a way not read here (bzip2, xz: the message says to decompress it first).
OpenedStream open_input_stream(const std::string& path);

}  // namespace ephemera
