// Stage 1 of the pipeline: capture files (pcap, pcapng or standard input) -> raw frames, through
// libpcap. Several files (a rotated capture) are merged into one stream in timestamp order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ephemera/core/types.hpp"

namespace ephemera {

struct RawFrame {
    Micros timestamp = 0;
    int link_type = 0;                    // pcap_datalink() of the file it came from
    std::span<const std::uint8_t> bytes;  // the captured bytes; valid until the next next()
    std::uint32_t wire_length = 0;
};

struct CaptureFileInfo {
    std::string path;
    int link_type = 0;
    std::string link_name;
    std::uint64_t frames = 0;
};

class CaptureReader {
  public:
    // Opens every file ("-" is standard input) and compiles the filter for each; throws UserError
    // naming the file or filter on failure.
    // With own_readers, classic pcap and common pcapng files are read by the project
    // (capture/pcap_file.hpp), not by libpcap.
    CaptureReader(const std::vector<std::string>& paths, const std::string& filter,
                  bool own_readers = true);
    ~CaptureReader();
    CaptureReader(const CaptureReader&) = delete;
    CaptureReader& operator=(const CaptureReader&) = delete;

    // The next frame in timestamp order across all files, valid until the next call; nullptr at
    // the end of all of them. The frame is the reader's own, not a copy: a copy of a record the
    // reader has just written would wait on those writes, once per packet.
    const RawFrame* next();

    const std::vector<CaptureFileInfo>& files() const noexcept { return files_; }
    // Things the user should know, such as a file cut off mid-packet.
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  private:
    struct Source;
    void advance(std::size_t index);
    template <typename OwnReader>
    void advance_own(std::size_t index, OwnReader& file);
    bool reopen_with_libpcap(std::size_t index, std::uint64_t frames_read);

    std::vector<std::unique_ptr<Source>> sources_;
    std::vector<CaptureFileInfo> files_;
    std::vector<std::string> warnings_;
    std::size_t last_returned_ = SIZE_MAX;
};

}  // namespace ephemera
