// The per-packet path that `analyze` and `live` share, so both give the same report for the same
// packets: frame -> decode -> duplicate filter -> connection tracker, counted in CaptureSummary.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "ephemera/track/capture_summary.hpp"
#include "ephemera/track/duplicates.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {

// A decoded packet, when it was captured and its flow's hash, as batches of them pass between
// threads.
struct TimedPacket {
    Micros timestamp;
    DecodedPacket packet;
    std::uint64_t flow_hash;  // hash_flow_of(packet)
    std::uint32_t tunnel;     // 1 + the index of its tunnel in CaptureSummary::tunnels; 0: none
};

class PacketPipeline {
  public:
    PacketPipeline(const TrackerOptions& options, ConnectionSink& sink,
                   const DecodeOptions& decoding = {})
        : tracker_(options, sink), decoding_(decoding) {
        capture_.max_connections = options.max_connections;
        capture_.split_segments = decoding.split_segments;
    }

    void on_frame(Micros timestamp, int link_type, std::span<const std::uint8_t> bytes) {
        TimedPacket decoded;
        if (decode_frame(timestamp, link_type, bytes, decoded)) on_decoded(decoded);
    }

    // on_frame in two halves. decode_frame and on_decoded change different state, so one thread
    // may decode while another tracks what it decoded before (app/two_threads.hpp).
    //
    // Counts the frame, decodes it, hashes its flow and drops it if it is a duplicate; false,
    // counted as skipped or as a duplicate, when it is not for the tracker. The flow's key is
    // made and hashed here, once, and the duplicate filter runs here while the packet's fields
    // are at hand: since the reading thread reads through a buffer (capture/file_buffer.hpp) it
    // has the time to spare, and the tracker matches a packet's endpoints without the key.
    bool decode_frame(Micros timestamp, int link_type, std::span<const std::uint8_t> bytes,
                      TimedPacket& decoded) noexcept {
        capture_.count_frame(timestamp);
        // Decoded here, then stored: reading back a packet just written into the batch (to key
        // its flow) would stall until those writes are done.
        SegmentPath* segment = decoding_.split_segments ? &segment_ : nullptr;
        DecodeResult result =
            decode_packet(static_cast<LinkType>(link_type), bytes, decoding_, &tunnel_, segment);
        if (!result.ok()) {
            ++capture_.skipped[static_cast<std::size_t>(result.status)];
            return false;
        }
        ++capture_.decoded;
        if (segment != nullptr && segment->count > 0) [[unlikely]] {
            const std::uint8_t number = capture_.segment_of(*segment);
            result.packet.source.address.segment = number;
            result.packet.destination.address.segment = number;
        }
        decoded.tunnel = 0;
        if (result.tunnel_depth > 0) [[unlikely]]
            decoded.tunnel =
                static_cast<std::uint32_t>(capture_.count_tunnel(tunnel_, timestamp)) + 1;
        const std::uint64_t flow_hash = hash_flow_of(result.packet);
        if (duplicates_.is_duplicate(timestamp, result.packet, flow_hash)) {
            ++capture_.duplicates;
            return false;
        }
        decoded.timestamp = timestamp;
        decoded.flow_hash = flow_hash;
        decoded.packet = result.packet;
        return true;
    }
    // Hands the packet to the tracker.
    void on_decoded(const TimedPacket& decoded) {
        if (decoded.tunnel == 0) [[likely]] {
            tracker_.on_packet(decoded.timestamp, decoded.packet, decoded.flow_hash);
            return;
        }
        const std::uint64_t started = tracker_.connections_started();
        tracker_.on_packet(decoded.timestamp, decoded.packet, decoded.flow_hash);
        if (tracker_.connections_started() == started) return;
        if (tunnel_connections_.size() < decoded.tunnel) tunnel_connections_.resize(decoded.tunnel);
        ++tunnel_connections_[decoded.tunnel - 1];
    }
    // on_decoded for each packet in turn, with the same result. The tracker's table is a few
    // megabytes, so each packet's lookup would wait for memory: the slots of the packets a few
    // places ahead are fetched while the earlier ones are tracked.
    void on_decoded(std::span<const TimedPacket> packets) {
        const std::size_t count = packets.size();
        for (std::size_t index = 0; index < std::min(count, slot_distance); ++index) {
            tracker_.prefetch_slot(packets[index].flow_hash);
        }
        for (std::size_t index = 0; index < count; ++index) {
            if (index + slot_distance < count) {
                tracker_.prefetch_slot(packets[index + slot_distance].flow_hash);
            }
            on_decoded(packets[index]);
        }
    }

    // Ends every connection still open, as of the last packet.
    void finish() {
        tracker_.finish();
        capture_.evicted_half_open = tracker_.evictions().half_open;
        capture_.evicted_other = tracker_.evictions().other;
        for (std::size_t i = 0; i < tunnel_connections_.size(); ++i) {
            capture_.tunnels[i].inner_connections = tunnel_connections_[i];
        }
    }

    CaptureSummary& capture() noexcept { return capture_; }
    const ConnectionTracker& tracker() const noexcept { return tracker_; }

  private:
    // How far ahead of the packet being tracked its slot is fetched.
    static constexpr std::size_t slot_distance = 12;

    ConnectionTracker tracker_;
    DecodeOptions decoding_;
    TunnelInfo tunnel_;    // the outermost tunnel of the packet just decoded, when it had one
    SegmentPath segment_;  // its VLANs and tunnels, with --split-segments
    CaptureSummary capture_;
    DuplicateFilter duplicates_;
    // Connections started by a tunneled packet, by tunnel: written by the tracking half, which
    // leaves capture_.tunnels to the decoding half until finish().
    std::vector<std::uint64_t> tunnel_connections_;
};

// The report's warnings about what the pipeline met: evictions, duplicates, clock steps.
std::vector<std::string> pipeline_warnings(const CaptureSummary& capture);

}  // namespace ephemera
