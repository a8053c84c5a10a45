// The per-packet path that `analyze` and `live` share, so both give the same report for the same
// packets: frame -> decode -> duplicate filter -> connection tracker, counted in CaptureSummary.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/track/duplicates.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {

class PacketPipeline {
  public:
    PacketPipeline(const TrackerOptions& options, ConnectionSink& sink) : tracker_(options, sink) {
        capture_.max_connections = options.max_connections;
    }

    void on_frame(Micros timestamp, int link_type, std::span<const std::uint8_t> bytes) {
        DecodedPacket packet;
        if (decode_frame(timestamp, link_type, bytes, packet)) on_decoded(timestamp, packet);
    }

    // on_frame in two halves. decode_frame and on_decoded change different state, so one thread
    // may decode while another tracks what it decoded before (app/two_threads.hpp).
    //
    // Counts the frame and decodes it; false, counted as skipped, when it cannot be decoded.
    bool decode_frame(Micros timestamp, int link_type, std::span<const std::uint8_t> bytes,
                      DecodedPacket& packet) noexcept {
        capture_.count_frame(timestamp);
        const DecodeResult decoded = decode_packet(static_cast<LinkType>(link_type), bytes);
        if (!decoded.ok()) {
            ++capture_.skipped[static_cast<std::size_t>(decoded.status)];
            return false;
        }
        ++capture_.decoded;
        packet = decoded.packet;
        return true;
    }
    // Drops a duplicate, or hands the packet to the tracker.
    void on_decoded(Micros timestamp, const DecodedPacket& packet) {
        const FlowKey key = make_flow_key(packet);
        const std::uint64_t key_hash = hash_flow_key(key);
        if (duplicates_.is_duplicate(timestamp, packet, key_hash)) {
            ++capture_.duplicates;
            return;
        }
        tracker_.on_packet(timestamp, packet, key, key_hash);
    }

    // Ends every connection still open, as of the last packet.
    void finish() {
        tracker_.finish();
        capture_.evicted_half_open = tracker_.evictions().half_open;
        capture_.evicted_other = tracker_.evictions().other;
    }

    // Memory the tracking half is about to write for the first time (see
    // ConnectionSink::space_ahead).
    std::array<std::span<std::byte>, 2> space_ahead() noexcept { return tracker_.space_ahead(); }

    CaptureSummary& capture() noexcept { return capture_; }
    const ConnectionTracker& tracker() const noexcept { return tracker_; }

  private:
    ConnectionTracker tracker_;
    CaptureSummary capture_;
    DuplicateFilter duplicates_;
};

// The report's warnings about what the pipeline met: evictions, duplicates, clock steps.
std::vector<std::string> pipeline_warnings(const CaptureSummary& capture);

}  // namespace ephemera
