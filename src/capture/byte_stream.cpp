#include "ephemera/capture/byte_stream.hpp"

#include <fcntl.h>
#include <lz4frame.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

std::string display_name(const std::string& path) {
    return path == "-" ? "<stdin>" : path;
}

// A file descriptor read front to back.
class DescriptorStream final : public ByteStream {
  public:
    DescriptorStream(int descriptor, bool owned) : descriptor_(descriptor), owned_(owned) {}
    ~DescriptorStream() override {
        if (owned_) close(descriptor_);
    }

    std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept override {
        for (;;) {
            const ssize_t got = ::read(descriptor_, into, room);
            if (got >= 0) return got;
            if (errno == EINTR) continue;
            error_ = std::strerror(errno);
            return -1;
        }
    }

  private:
    int descriptor_;
    bool owned_;
};

// Another stream whose first bytes were already taken off it to look at: they come first.
class PrefixedStream final : public ByteStream {
  public:
    PrefixedStream(std::vector<std::uint8_t> prefix, std::unique_ptr<ByteStream> rest)
        : prefix_(std::move(prefix)), rest_(std::move(rest)) {}

    std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept override {
        if (taken_ < prefix_.size()) {
            const std::size_t count = std::min(room, prefix_.size() - taken_);
            std::memcpy(into, prefix_.data() + taken_, count);
            taken_ += count;
            return static_cast<std::ptrdiff_t>(count);
        }
        const std::ptrdiff_t got = rest_->read(into, room);
        if (got < 0) error_ = rest_->error();
        return got;
    }

  private:
    std::vector<std::uint8_t> prefix_;
    std::size_t taken_ = 0;
    std::unique_ptr<ByteStream> rest_;
};

constexpr std::size_t compressed_chunk = 64 * 1024;

// What every decompressor shares: compressed bytes from the source, a chunk at a time.
class Decompressor : public ByteStream {
  protected:
    explicit Decompressor(std::unique_ptr<ByteStream> source)
        : source_(std::move(source)), input_(compressed_chunk) {}

    // Refills the input when it is used up. False at the source's end or on its error.
    bool more_input() noexcept {
        if (input_at_ < input_size_) return true;
        if (source_done_) return false;
        const std::ptrdiff_t got = source_->read(input_.data(), input_.size());
        if (got < 0) error_ = source_->error();
        if (got <= 0) {
            source_done_ = true;
            return false;
        }
        input_at_ = 0;
        input_size_ = static_cast<std::size_t>(got);
        return true;
    }

    // What read() returns once the input has run out: 0 at the end of a whole frame, -1 with
    // error() set on the source's error or inside a frame (the file was cut short).
    std::ptrdiff_t end_of_input(std::string_view format) noexcept {
        if (!error_.empty()) return -1;
        if (inside_frame_) {
            error_ = fmt::format("the {} data ends early (the file was cut short)", format);
            return -1;
        }
        return 0;
    }

    std::unique_ptr<ByteStream> source_;
    std::vector<std::uint8_t> input_;
    std::size_t input_at_ = 0;
    std::size_t input_size_ = 0;
    bool source_done_ = false;
    bool inside_frame_ = false;  // a frame (member) begun and not yet ended: ending here cuts it
};

// gzip, including files of several members (concatenated .gz files, as `cat a.gz b.gz` makes).
class GzipStream final : public Decompressor {
  public:
    explicit GzipStream(std::unique_ptr<ByteStream> source) : Decompressor(std::move(source)) {
        inflateInit2(&zlib_, 16 + MAX_WBITS);  // 16: a gzip header and trailer
    }
    ~GzipStream() override { inflateEnd(&zlib_); }

    std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept override {
        zlib_.next_out = into;
        zlib_.avail_out = static_cast<uInt>(std::min<std::size_t>(room, UINT32_MAX));
        while (zlib_.avail_out == room) {
            if (!more_input()) return end_of_input("gzip");
            zlib_.next_in = input_.data() + input_at_;
            zlib_.avail_in = static_cast<uInt>(input_size_ - input_at_);
            inside_frame_ = true;
            const int status = inflate(&zlib_, Z_NO_FLUSH);
            input_at_ = input_size_ - zlib_.avail_in;
            if (status == Z_STREAM_END) {
                inside_frame_ = false;
                inflateReset(&zlib_);  // another member may follow
            } else if (status != Z_OK && status != Z_BUF_ERROR) {
                error_ = fmt::format("gzip data is damaged ({})",
                                     zlib_.msg != nullptr ? zlib_.msg : "inflate failed");
                return -1;
            }
        }
        return static_cast<std::ptrdiff_t>(room - zlib_.avail_out);
    }

  private:
    z_stream zlib_{};
};

class ZstdStream final : public Decompressor {
  public:
    explicit ZstdStream(std::unique_ptr<ByteStream> source)
        : Decompressor(std::move(source)), context_(ZSTD_createDStream()) {}
    ~ZstdStream() override { ZSTD_freeDStream(context_); }

    std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept override {
        ZSTD_outBuffer output{into, room, 0};
        while (output.pos == 0) {
            if (!more_input()) return end_of_input("zstd");
            ZSTD_inBuffer input{input_.data(), input_size_, input_at_};
            const std::size_t left = ZSTD_decompressStream(context_, &output, &input);
            input_at_ = input.pos;
            if (ZSTD_isError(left)) {
                error_ = fmt::format("zstd data is damaged ({})", ZSTD_getErrorName(left));
                return -1;
            }
            inside_frame_ = left != 0;  // 0: a frame ended exactly here
        }
        return static_cast<std::ptrdiff_t>(output.pos);
    }

  private:
    ZSTD_DStream* context_;
};

class Lz4Stream final : public Decompressor {
  public:
    explicit Lz4Stream(std::unique_ptr<ByteStream> source) : Decompressor(std::move(source)) {
        LZ4F_createDecompressionContext(&context_, LZ4F_VERSION);
    }
    ~Lz4Stream() override { LZ4F_freeDecompressionContext(context_); }

    std::ptrdiff_t read(std::uint8_t* into, std::size_t room) noexcept override {
        std::size_t produced = 0;
        while (produced == 0) {
            if (!more_input()) return end_of_input("lz4");
            std::size_t output_size = room;
            std::size_t input_size = input_size_ - input_at_;
            const std::size_t hint = LZ4F_decompress(
                context_, into, &output_size, input_.data() + input_at_, &input_size, nullptr);
            input_at_ += input_size;
            produced = output_size;
            if (LZ4F_isError(hint)) {
                error_ = fmt::format("lz4 data is damaged ({})", LZ4F_getErrorName(hint));
                return -1;
            }
            inside_frame_ = hint != 0;  // 0: a frame ended; the next one starts afresh
        }
        return static_cast<std::ptrdiff_t>(produced);
    }

  private:
    LZ4F_dctx* context_ = nullptr;
};

constexpr std::size_t magic_bytes = 6;

Compression compression_of(const std::uint8_t* first, std::size_t size) {
    const auto starts_with = [&](std::initializer_list<std::uint8_t> magic) {
        return size >= magic.size() && std::equal(magic.begin(), magic.end(), first);
    };
    if (starts_with({0x1f, 0x8b})) return Compression::gzip;
    if (starts_with({0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
    if (starts_with({0x04, 0x22, 0x4d, 0x18})) return Compression::lz4;
    return Compression::none;
}

// Formats that are compressed but not read here: the user decompresses them first.
const char* unread_compression(const std::uint8_t* first, std::size_t size) {
    if (size >= 3 && first[0] == 'B' && first[1] == 'Z' && first[2] == 'h') return "bzip2";
    if (size >= 6 && std::memcmp(first,
                                 "\xfd"
                                 "7zXZ\0",
                                 6) == 0)
        return "xz";
    return nullptr;
}

// Reads up to `wanted` bytes from a stream, however it hands them out; -1 on an error.
std::ptrdiff_t read_fully(ByteStream& stream, std::uint8_t* into, std::size_t wanted) {
    std::size_t got = 0;
    while (got < wanted) {
        const std::ptrdiff_t n = stream.read(into + got, wanted - got);
        if (n == 0) break;
        if (n < 0) return -1;
        got += static_cast<std::size_t>(n);
    }
    return static_cast<std::ptrdiff_t>(got);
}

std::uint32_t first_word(const std::vector<std::uint8_t>& bytes) {
    if (bytes.size() < 4) return 0;
    return static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
           static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
}

// Reads up to `wanted` bytes, however the descriptor hands them out. -1 on an error.
std::ptrdiff_t read_descriptor(int descriptor, std::uint8_t* into, std::size_t wanted) {
    std::size_t got = 0;
    while (got < wanted) {
        const ssize_t n = ::read(descriptor, into + got, wanted - got);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += static_cast<std::size_t>(n);
    }
    return static_cast<std::ptrdiff_t>(got);
}

}  // namespace

std::string_view compression_name(Compression compression) noexcept {
    switch (compression) {
        case Compression::none:
            return "none";
        case Compression::gzip:
            return "gzip";
        case Compression::zstd:
            return "zstd";
        case Compression::lz4:
            return "lz4";
    }
    return "none";
}

OpenedStream open_input_stream(const std::string& path) {
    const bool standard_input = path == "-";
    const int descriptor =
        standard_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        throw UserError(fmt::format("cannot read capture {}: {}", path, std::strerror(errno)));
    }
    struct stat info {};
    if (fstat(descriptor, &info) != 0 || S_ISDIR(info.st_mode)) {
        const int error = S_ISDIR(info.st_mode) ? EISDIR : errno;
        if (!standard_input) close(descriptor);
        throw UserError(
            fmt::format("cannot read capture {}: {}", display_name(path), std::strerror(error)));
    }
    std::vector<std::uint8_t> first(magic_bytes);
    const std::ptrdiff_t got = read_descriptor(descriptor, first.data(), first.size());
    if (got < 0) {
        const int error = errno;
        if (!standard_input) close(descriptor);
        throw UserError(
            fmt::format("cannot read capture {}: {}", display_name(path), std::strerror(error)));
    }
    first.resize(static_cast<std::size_t>(got));
    if (first.empty()) {
        if (!standard_input) close(descriptor);
        throw UserError(fmt::format("cannot read capture {}: it is empty", display_name(path)));
    }
    if (const char* format = unread_compression(first.data(), first.size())) {
        if (!standard_input) close(descriptor);
        throw UserError(fmt::format(
            "cannot read capture {}: it is compressed with {}, which ephemera does not read; "
            "decompress it first (gzip, zstd and lz4 are read as they are)",
            display_name(path), format));
    }
    OpenedStream opened;
    opened.compression = compression_of(first.data(), first.size());
    // Text (a log: its first byte '#' or '{', which no capture starts with) and ephemera's saved
    // states ("ephemera-state", app/state_file.hpp) are read front to back as a stream, whatever
    // holds them.
    const bool text = first[0] == '#' || first[0] == '{';
    const bool state = first.size() == magic_bytes && std::memcmp(first.data(), "epheme", 6) == 0;
    opened.regular_file = !standard_input && S_ISREG(info.st_mode) &&
                          opened.compression == Compression::none && !text && !state;
    if (opened.regular_file) {
        close(descriptor);  // libpcap and the readers open it again, by name
        return opened;
    }
    std::unique_ptr<ByteStream> raw = std::make_unique<PrefixedStream>(
        first, std::make_unique<DescriptorStream>(descriptor, !standard_input));
    switch (opened.compression) {
        case Compression::gzip:
            raw = std::make_unique<GzipStream>(std::move(raw));
            break;
        case Compression::zstd:
            raw = std::make_unique<ZstdStream>(std::move(raw));
            break;
        case Compression::lz4:
            raw = std::make_unique<Lz4Stream>(std::move(raw));
            break;
        case Compression::none:
            opened.magic = first_word(first);
            opened.stream = std::move(raw);
            return opened;
    }
    // The format of what the compression holds, from its first decompressed bytes.
    std::vector<std::uint8_t> inner(4);
    const std::ptrdiff_t inner_size = read_fully(*raw, inner.data(), inner.size());
    if (inner_size < 0) {
        throw UserError(
            fmt::format("cannot read capture {}: {}", display_name(path), raw->error()));
    }
    inner.resize(static_cast<std::size_t>(inner_size));
    if (inner.empty()) {
        throw UserError(fmt::format("cannot read capture {}: it is empty once decompressed ({})",
                                    display_name(path), compression_name(opened.compression)));
    }
    opened.magic = first_word(inner);
    opened.stream = std::make_unique<PrefixedStream>(std::move(inner), std::move(raw));
    return opened;
}

}  // namespace ephemera
