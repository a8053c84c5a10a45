#include "ephemera/capture/reader.hpp"

#include <pcap/pcap.h>

#include <fmt/format.h>

#include "ephemera/capture/pcap_file.hpp"
#include "ephemera/core/errors.hpp"

namespace ephemera {

struct CaptureReader::Source {
    pcap_t* handle = nullptr;                // libpcap reads it, or
    std::unique_ptr<PcapFile> own_pcap;      // the project reads it (classic pcap), or
    std::unique_ptr<PcapngFile> own_pcapng;  // (pcapng)
    bpf_program filter{};                    // the own reader's filter, when there is one
    bool filtered = false;
    bool has_frame = false;
    RawFrame frame;

    ~Source() {
        if (handle != nullptr) pcap_close(handle);
        if (filtered) pcap_freecode(&filter);
    }

    bool passes(const RawFrame& candidate) const {
        if (!filtered) return true;
        pcap_pkthdr header{};
        header.caplen = static_cast<bpf_u_int32>(candidate.bytes.size());
        header.len = candidate.wire_length;
        return pcap_offline_filter(&filter, &header, candidate.bytes.data()) != 0;
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

}  // namespace

CaptureReader::CaptureReader(const std::vector<std::string>& paths, const std::string& filter,
                             bool own_readers) {
    std::size_t stdin_count = 0;
    for (const std::string& path : paths) {
        if (path == "-" && ++stdin_count > 1) {
            throw UserError("standard input ('-') can be given only once");
        }
        char error[PCAP_ERRBUF_SIZE] = {};
        pcap_t* handle = pcap_open_offline_with_tstamp_precision(
            path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
        if (handle == nullptr) {
            throw UserError(fmt::format("cannot read capture {}: {}", display_name(path), error));
        }
        auto source = std::make_unique<Source>();
        source->handle = handle;
        const int link_type = pcap_datalink(handle);
        // libpcap has checked the header and mapped the link type; a classic pcap or pcapng file
        // is then read by the project (capture/pcap_file.hpp), which costs a fraction of
        // libpcap's per-packet path. Only the reader of the file's format (pcapng sections are
        // version 1, classic pcap 2) is tried: a buffer allocated and freed for nothing raises
        // glibc's mmap threshold, and with it the peak memory of what follows (1.5 MiB).
        if (own_readers && path != "-") {
            if (pcap_major_version(handle) == 2) {
                source->own_pcap = PcapFile::open(path, link_type, pcap_snapshot(handle));
            } else {
                source->own_pcapng = PcapngFile::open(path, link_type, pcap_snapshot(handle));
            }
        }
        if (source->own_pcap != nullptr || source->own_pcapng != nullptr) {
            if (!filter.empty()) {
                source->filter = compile_filter(handle, filter);
                source->filtered = true;
            }
            pcap_close(handle);
            source->handle = nullptr;
        } else {
            apply_filter(handle, path, filter);
        }
        const char* link_name = pcap_datalink_val_to_name(link_type);
        files_.push_back({path, link_type, link_name != nullptr ? link_name : "unknown", 0});
        sources_.push_back(std::move(source));
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
        const bool cut = why.find("truncated") != std::string::npos;
        warnings_.push_back(
            fmt::format("{}: {} after {} packets ({})", display_name(files_[index].path),
                        cut ? "capture cut off" : "reading stopped", files_[index].frames, why));
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
        warnings_.push_back(fmt::format("{}: reading stopped after {} packets ({})",
                                        display_name(path), files_[index].frames, error));
        return false;
    }
    source.handle = handle;
    for (std::uint64_t passed = 0; passed < frames_read; ++passed) {
        pcap_pkthdr* header = nullptr;
        const std::uint8_t* data = nullptr;
        if (pcap_next_ex(handle, &header, &data) != 1) {
            warnings_.push_back(
                fmt::format("{}: reading stopped after {} packets (the file "
                            "changed while it was read)",
                            display_name(path), files_[index].frames));
            pcap_close(handle);
            source.handle = nullptr;
            return false;
        }
    }
    if (source.filtered && pcap_setfilter(handle, &source.filter) != 0) {
        throw UserError(
            fmt::format("cannot apply filter to {}: {}", display_name(path), pcap_geterr(handle)));
    }
    return true;
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
    if (!file.stop_reason().empty()) {
        warnings_.push_back(fmt::format("{}: {} after {} packets ({})",
                                        display_name(files_[index].path),
                                        file.cut_off() ? "capture cut off" : "reading stopped",
                                        files_[index].frames, file.stop_reason()));
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
