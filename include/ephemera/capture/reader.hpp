// Stage 1 of the pipeline: capture files (pcap, pcapng or standard input, any of them compressed
// with gzip, zstd or lz4) -> raw frames. Several files (a rotated capture) are merged into one
// stream in timestamp order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ephemera/capture/byte_stream.hpp"
#include "ephemera/capture/pcap_file.hpp"
#include "ephemera/capture/raw_frame.hpp"
#include "ephemera/core/types.hpp"

namespace ephemera {

struct CaptureFileInfo {
    std::string path;
    int link_type = 0;            // the first section's or interface's
    std::vector<int> link_types;  // every one met, in order (pcapng interfaces, sections)
    std::string link_name;        // libpcap's names of link_types, ", " between them
    std::uint64_t frames = 0;
    std::uint32_t sections = 1;  // pcap file headers or pcapng section headers read
    Compression compression = Compression::none;
    bool stopped_early = false;      // reading stopped before the end of the input
    std::uint64_t bytes_unread = 0;  // ... with this many bytes after the last record read
};

class CaptureReader {
  public:
    // Opens every file ("-" is standard input) and compiles the filter for each; throws UserError
    // naming the file or filter on failure.
    // With own_readers, classic pcap and common pcapng files are read by the project
    // (capture/pcap_file.hpp), not by libpcap.
    CaptureReader(const std::vector<std::string>& paths, const std::string& filter,
                  bool own_readers = true);
    // The same, for inputs already opened by open_input_stream (standard input cannot be opened
    // twice): (path, opened) pairs.
    using OpenedInput = std::pair<std::string, OpenedStream>;
    CaptureReader(std::vector<OpenedInput> inputs, const std::string& filter,
                  bool own_readers = true);
    ~CaptureReader();
    CaptureReader(const CaptureReader&) = delete;
    CaptureReader& operator=(const CaptureReader&) = delete;

    // The next frame in timestamp order across all files, valid until the next call; nullptr at
    // the end of all of them. The frame is the reader's own, not a copy: a copy of a record the
    // reader has just written would wait on those writes, once per packet.
    const RawFrame* next() {
        // One file, unfiltered, read by the project: the common case, read record by record with
        // nothing in between (merging files by time and filtering cost more than reading the
        // record: 13 ns a packet, 0.04 s of the benchmark's capture). At its end the general
        // path takes over, as it does for every other case.
        if (sole_pcap_ != nullptr) {
            return sole_pcap_->next(*sole_frame_) ? counted_sole_frame() : end_of_sole_file();
        }
        if (sole_pcapng_ != nullptr) {
            return sole_pcapng_->next(*sole_frame_) ? counted_sole_frame() : end_of_sole_file();
        }
        return next_merged();
    }

    // For a single file the project reads, with no filter: lets another thread share the reading
    // (capture/read_ahead.hpp), which calls fill() on what this returns whenever it has time to
    // spare, from before the first next() until the reader goes. nullptr for anything else.
    ReadAhead* share_reading();

    const std::vector<CaptureFileInfo>& files() const noexcept { return files_; }
    // Things the user should know, such as a file cut off mid-packet.
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  private:
    struct Source;
    const RawFrame* next_merged();
    const RawFrame* counted_sole_frame() noexcept {
        ++*sole_frames_;
        return sole_frame_;
    }
    const RawFrame* end_of_sole_file();
    void advance(std::size_t index);
    template <typename OwnReader>
    void advance_own(std::size_t index, OwnReader& file);
    template <typename OwnReader>
    void note_layout(std::size_t index, const OwnReader& file);
    void stopped(std::size_t index, bool cut, const std::string& why);
    void open_stream(const std::string& path, OpenedStream opened, const std::string& filter);
    void open_file(const std::string& path, const std::string& filter, bool own_readers);
    bool reopen_with_libpcap(std::size_t index, std::uint64_t frames_read);

    // Before sources_, so that their files, which give the helper back its offers as they close,
    // go first.
    std::unique_ptr<ReadAhead> helper_;
    std::vector<std::unique_ptr<Source>> sources_;
    std::vector<CaptureFileInfo> files_;
    std::vector<std::string> warnings_;
    std::size_t last_returned_ = SIZE_MAX;
    // Set while next() reads the only source directly (see there): the file (one of the two),
    // where its frames go and its count of them.
    PcapFile* sole_pcap_ = nullptr;
    PcapngFile* sole_pcapng_ = nullptr;
    RawFrame* sole_frame_ = nullptr;
    std::uint64_t* sole_frames_ = nullptr;
};

}  // namespace ephemera
