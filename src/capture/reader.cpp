#include "ephemera/capture/reader.hpp"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "ephemera/capture/pcap_file.hpp"
#include "ephemera/core/errors.hpp"

namespace ephemera {

struct CaptureReader::Source {
    pcap_t* handle = nullptr;                // libpcap reads it, or
    std::unique_ptr<PcapFile> own_pcap;      // the project reads it (classic pcap), or
    std::unique_ptr<PcapngFile> own_pcapng;  // (pcapng)
    // The own readers' filter, compiled for each link type the input holds as it meets them
    // (pcapng interfaces and pcap sections may differ); empty: no filter.
    std::string filter_text;
    std::vector<std::pair<int, bpf_program>> filters;
    bool filtered = false;
    bool has_frame = false;
    RawFrame frame;

    ~Source() {
        if (handle != nullptr) pcap_close(handle);
        for (auto& [link_type, program] : filters) pcap_freecode(&program);
    }

    // The filter, with its program for the input's first link type already compiled.
    void filter_with(const std::string& text, int link_type, const bpf_program& program) {
        filter_text = text;
        filters.emplace_back(link_type, program);
        filtered = true;
    }

    // Whether the filter takes `candidate`. A link type the filter cannot be compiled for (it
    // names a header that link type lacks) takes nothing.
    bool passes(const RawFrame& candidate) {
        if (!filtered) return true;
        const bpf_program* program = filter_for(candidate.link_type);
        if (program == nullptr) return false;
        pcap_pkthdr header{};
        header.caplen = static_cast<bpf_u_int32>(candidate.bytes.size());
        header.len = candidate.wire_length;
        return pcap_offline_filter(program, &header, candidate.bytes.data()) != 0;
    }

    const bpf_program* filter_for(int link_type) {
        for (const auto& [type, program] : filters)
            if (type == link_type) return program.bf_len > 0 ? &program : nullptr;
        bpf_program program{};
        pcap_t* dead = pcap_open_dead(link_type, static_cast<int>(max_snapshot));
        if (dead == nullptr ||
            pcap_compile(dead, &program, filter_text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            program = {};
        }
        if (dead != nullptr) pcap_close(dead);
        filters.emplace_back(link_type, program);
        return program.bf_len > 0 ? &filters.back().second : nullptr;
    }
};

namespace {

std::string display_name(const std::string& path) {
    return path == "-" ? "<stdin>" : path;
}

bpf_program compile_filter(pcap_t* handle, const std::string& filter) {
    bpf_program program{};
    if (pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        throw UserError(fmt::format("bad filter '{}': {}", filter, pcap_geterr(handle)));
    }
    return program;
}

void apply_filter(pcap_t* handle, const std::string& path, const std::string& filter) {
    if (filter.empty()) return;
    bpf_program program = compile_filter(handle, filter);
    const int status = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (status != 0) {
        throw UserError(fmt::format("cannot apply filter '{}' to {}: {}", filter,
                                    display_name(path), pcap_geterr(handle)));
    }
}

// libpcap's error, without the path it sometimes starts with (the message names it already).
std::string without_path(std::string error, const std::string& path) {
    const std::string prefix = path + ": ";
    if (error.rfind(prefix, 0) == 0) error.erase(0, prefix.size());
    return error;
}

std::string link_names(const std::vector<int>& link_types) {
    std::string names;
    for (const int link_type : link_types) {
        const char* name = pcap_datalink_val_to_name(link_type);
        if (!names.empty()) names += ", ";
        names += name != nullptr ? name : fmt::format("DLT {}", link_type);
    }
    return names;
}

// Bytes of the file after the last record libpcap read whole, where it stopped with `why`: what
// it had not reached, and what it had read of the record it gave up on. libpcap says only the
// latter's length in its words ("tried to read 66 captured bytes, only got 65"), after the record
// or block header it read first; a record whose length it rejected cost it that header.
std::uint64_t unread_by_libpcap(pcap_t* handle, const std::string& why, bool pcapng) {
    std::FILE* file = pcap_file(handle);
    if (file == nullptr) return 0;
    const long position = std::ftell(file);
    struct stat info {};
    if (position < 0 || fstat(fileno(file), &info) != 0 || info.st_size < position) return 0;
    std::uint64_t unread = static_cast<std::uint64_t>(info.st_size - position);
    const std::uint64_t header = pcapng ? 8 : 16;
    if (const std::size_t got = why.find("only got "); got != std::string::npos) {
        unread += std::strtoull(why.c_str() + got + 9, nullptr, 10);
        if (why.find("header bytes") == std::string::npos) unread += header;
    } else if (why.find("invalid packet capture length") != std::string::npos) {
        unread += header;
    }
    return unread;
}

}  // namespace

namespace {

std::vector<CaptureReader::OpenedInput> open_all(const std::vector<std::string>& paths) {
    std::vector<CaptureReader::OpenedInput> inputs;
    std::size_t stdin_count = 0;
    for (const std::string& path : paths) {
        if (path == "-" && ++stdin_count > 1) {
            throw UserError("standard input ('-') can be given only once");
        }
        inputs.emplace_back(path, open_input_stream(path));
    }
    return inputs;
}

}  // namespace

CaptureReader::CaptureReader(const std::vector<std::string>& paths, const std::string& filter,
                             bool own_readers)
    : CaptureReader(open_all(paths), filter, own_readers) {}

CaptureReader::CaptureReader(std::vector<OpenedInput> inputs, const std::string& filter,
                             bool own_readers) {
    for (auto& [path, opened] : inputs) {
        if (opened.regular_file) {
            open_file(path, filter, own_readers);
        } else {
            open_stream(path, std::move(opened), filter);
        }
    }
    if (sources_.size() == 1 && !sources_[0]->filtered) {
        // Read by next() directly, record by record: no source is advanced ahead of it.
        sole_pcap_ = sources_[0]->own_pcap.get();
        sole_pcapng_ = sources_[0]->own_pcapng.get();
        sole_frame_ = &sources_[0]->frame;
        sole_frames_ = &files_[0].frames;
        if (sole_pcap_ != nullptr || sole_pcapng_ != nullptr) return;
    }
    for (std::size_t index = 0; index < sources_.size(); ++index) advance(index);
}

// A regular, uncompressed file: libpcap opens and checks it; a classic pcap or pcapng file of a
// link type ephemera decodes is then read by the project (capture/pcap_file.hpp), which costs a
// fraction of libpcap's per-packet path.
void CaptureReader::open_file(const std::string& path, const std::string& filter,
                              bool own_readers) {
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
    if (handle == nullptr) {
        throw UserError(fmt::format("cannot read capture {}: {}", path, without_path(error, path)));
    }
    auto source = std::make_unique<Source>();
    source->handle = handle;
    const int link_type = pcap_datalink(handle);
    // Only the reader of the file's format (pcapng sections are version 1, classic pcap 2) is
    // tried: a buffer allocated and freed for nothing raises glibc's mmap threshold, and with it
    // the peak memory of what follows.
    if (own_readers) {
        if (pcap_major_version(handle) == 2) {
            source->own_pcap = PcapFile::open(path, link_type, pcap_snapshot(handle));
        } else {
            source->own_pcapng = PcapngFile::open(path, link_type, pcap_snapshot(handle));
        }
    }
    if (source->own_pcap != nullptr || source->own_pcapng != nullptr) {
        if (!filter.empty()) {
            // Compiled once here so that a bad filter is reported before anything is read.
            source->filter_with(filter, link_type, compile_filter(handle, filter));
        }
        pcap_close(handle);
        source->handle = nullptr;
    } else {
        apply_filter(handle, path, filter);
    }
    files_.push_back({path, link_type, {link_type}, link_names({link_type}), 0});
    sources_.push_back(std::move(source));
}

// Standard input, a pipe or a compressed file: read front to back by the project's readers,
// which take every section and interface of the stream as it comes.
void CaptureReader::open_stream(const std::string& path, OpenedStream opened,
                                const std::string& filter) {
    auto source = std::make_unique<Source>();
    const std::string compressed =
        opened.compression == Compression::none
            ? std::string()
            : fmt::format(" (once decompressed: {})", compression_name(opened.compression));
    if (is_pcap_magic(opened.magic)) {
        source->own_pcap = PcapFile::open(std::move(opened.stream));
        if (source->own_pcap == nullptr) {
            throw UserError(
                fmt::format("cannot read capture {}: a pcap file of a version other "
                            "than 2.4, or cut inside its header{}",
                            display_name(path), compressed));
        }
    } else if (opened.magic == 0x0A0D0D0A) {
        source->own_pcapng = PcapngFile::open(std::move(opened.stream));
        if (source->own_pcapng == nullptr) {
            throw UserError(
                fmt::format("cannot read capture {}: a damaged pcapng section "
                            "header{}",
                            display_name(path), compressed));
        }
    } else {
        throw UserError(
            fmt::format("cannot read capture {}: not a pcap or pcapng capture "
                        "(unknown file format){}",
                        display_name(path), compressed));
    }
    const CaptureLayout& layout =
        source->own_pcap != nullptr ? source->own_pcap->layout() : source->own_pcapng->layout();
    const int link_type = layout.link_types.empty() ? 1 : layout.link_types.front();
    if (!filter.empty()) {
        // Compiled once for the first link type, so that a bad filter is reported at once.
        pcap_t* dead = pcap_open_dead(link_type, static_cast<int>(max_snapshot));
        bpf_program program{};
        try {
            program = compile_filter(dead, filter);
        } catch (const UserError&) {
            pcap_close(dead);
            throw;
        }
        pcap_close(dead);
        source->filter_with(filter, link_type, program);
    }
    CaptureFileInfo info{path, link_type, layout.link_types, link_names(layout.link_types), 0};
    info.compression = opened.compression;
    files_.push_back(std::move(info));
    sources_.push_back(std::move(source));
}

// The file next() read directly has ended, or (pcapng) has a block left to libpcap: advance()
// asks the file again, which answers as it did (it stays at its end), and does what follows:
// the warning for a file cut short, libpcap for the rest of a pcapng file.
const RawFrame* CaptureReader::end_of_sole_file() {
    sole_pcap_ = nullptr;
    sole_pcapng_ = nullptr;
    last_returned_ = 0;
    return next_merged();
}

CaptureReader::~CaptureReader() = default;

ReadAhead* CaptureReader::share_reading() {
    if (sole_pcap_ == nullptr && sole_pcapng_ == nullptr) return nullptr;
    if (helper_ == nullptr) helper_ = std::make_unique<ReadAhead>();
    if (sole_pcap_ != nullptr) sole_pcap_->share_reading(helper_.get());
    if (sole_pcapng_ != nullptr) sole_pcapng_->share_reading(helper_.get());
    return helper_.get();
}

void CaptureReader::advance(std::size_t index) {
    Source& source = *sources_[index];
    source.has_frame = false;
    // A file the project reads is closed once read to its end.
    if (source.own_pcap != nullptr) {
        advance_own(index, *source.own_pcap);
        if (!source.has_frame) source.own_pcap.reset();
        return;
    }
    if (source.own_pcapng != nullptr) {
        advance_own(index, *source.own_pcapng);
        if (source.has_frame) return;
        const bool hand_over = source.own_pcapng->needs_libpcap();
        const std::uint64_t frames_read = source.own_pcapng->frames_read();
        source.own_pcapng.reset();
        if (!hand_over || !reopen_with_libpcap(index, frames_read)) return;
    }
    if (source.handle == nullptr) return;
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    const int status = pcap_next_ex(source.handle, &header, &data);
    if (status == 1) {
        source.frame.timestamp = Micros{header->ts.tv_sec} * 1'000'000 + Micros{header->ts.tv_usec};
        source.frame.link_type = files_[index].link_type;
        source.frame.bytes = {data, header->caplen};
        source.frame.wire_length = header->len;
        source.has_frame = true;
        ++files_[index].frames;
        return;
    }
    if (status == PCAP_ERROR) {
        // A file cut inside a record, or a block libpcap cannot read: keep what came before.
        const std::string why = pcap_geterr(source.handle);
        files_[index].bytes_unread =
            unread_by_libpcap(source.handle, why, pcap_major_version(source.handle) == 1);
        stopped(index, why.find("truncated") != std::string::npos, why);
    }
    pcap_close(source.handle);
    source.handle = nullptr;
}

// The own pcapng reader met a block it leaves to libpcap: libpcap reads the file from the top,
// passes over the frames already read (read the same way), and reads on from there.
bool CaptureReader::reopen_with_libpcap(std::size_t index, std::uint64_t frames_read) {
    Source& source = *sources_[index];
    const std::string& path = files_[index].path;
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
    if (handle == nullptr) {
        stopped(index, false, without_path(error, path));
        return false;
    }
    source.handle = handle;
    for (std::uint64_t passed = 0; passed < frames_read; ++passed) {
        pcap_pkthdr* header = nullptr;
        const std::uint8_t* data = nullptr;
        if (pcap_next_ex(handle, &header, &data) != 1) {
            stopped(index, false, "the file changed while it was read");
            pcap_close(handle);
            source.handle = nullptr;
            return false;
        }
    }
    if (source.filtered && pcap_setfilter(handle, &source.filters.front().second) != 0) {
        throw UserError(
            fmt::format("cannot apply filter to {}: {}", display_name(path), pcap_geterr(handle)));
    }
    return true;
}

void CaptureReader::stopped(std::size_t index, bool cut, const std::string& why) {
    CaptureFileInfo& file = files_[index];
    file.stopped_early = true;
    warnings_.push_back(fmt::format(
        "{}: {} after {} packets, {} left unread ({})", display_name(file.path),
        cut ? "capture cut off" : "reading stopped", file.frames,
        file.bytes_unread == 1 ? std::string("1 byte") : fmt::format("{} bytes", file.bytes_unread),
        why));
}

template <typename OwnReader>
void CaptureReader::note_layout(std::size_t index, const OwnReader& file) {
    CaptureFileInfo& info = files_[index];
    const CaptureLayout& layout = file.layout();
    if (!layout.link_types.empty() && layout.link_types != info.link_types) {
        info.link_types = layout.link_types;
        info.link_type = layout.link_types.front();
        info.link_name = link_names(layout.link_types);
    }
    info.sections = std::max<std::uint32_t>(layout.sections, 1);
}

template <typename OwnReader>
void CaptureReader::advance_own(std::size_t index, OwnReader& file) {
    Source& source = *sources_[index];
    while (file.next(source.frame)) {
        if (!source.passes(source.frame)) continue;
        source.has_frame = true;
        ++files_[index].frames;
        return;
    }
    note_layout(index, file);
    if (!file.stop_reason().empty()) {
        files_[index].bytes_unread = file.bytes_unread();
        stopped(index, file.cut_off(), file.stop_reason());
    }
}

const RawFrame* CaptureReader::next_merged() {
    // The previous frame's bytes belong to libpcap's buffer; only now may that source move on.
    if (last_returned_ != SIZE_MAX) advance(last_returned_);
    std::size_t earliest = SIZE_MAX;
    for (std::size_t index = 0; index < sources_.size(); ++index) {
        const Source& source = *sources_[index];
        if (!source.has_frame) continue;
        if (earliest == SIZE_MAX || source.frame.timestamp < sources_[earliest]->frame.timestamp) {
            earliest = index;
        }
    }
    last_returned_ = earliest;
    if (earliest == SIZE_MAX) return nullptr;
    return &sources_[earliest]->frame;
}

}  // namespace ephemera
