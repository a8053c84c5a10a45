// The per-packet path that `analyze` and `live` share, so both give the same report for the same
// packets: frame -> decode -> duplicate filter -> connection tracker, counted in CaptureSummary.
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <vector>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/track/duplicates.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {

// A decoded packet and when it was captured, as batches of them pass between threads.
struct TimedPacket {
    Micros timestamp;
    DecodedPacket packet;
};

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
        const DecodeStatus status =
            decode_packet_into(static_cast<LinkType>(link_type), bytes, packet);
        if (status != DecodeStatus::ok) {
            ++capture_.skipped[static_cast<std::size_t>(status)];
            return false;
        }
        ++capture_.decoded;
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
    // on_decoded for each packet in turn, with the same result. The tracker's table is a few
    // megabytes, so each packet's lookup would wait for memory: the packets a few places ahead
    // are hashed first and their slots fetched while the earlier ones are tracked.
    void on_decoded(std::span<const TimedPacket> packets) {
        std::array<KeyedFlow, lookahead_ring> ahead;
        const std::size_t count = packets.size();
        for (std::size_t next = 0; next < std::min(count, slot_distance); ++next) {
            key_and_fetch_slot(packets[next].packet, ahead[next % lookahead_ring]);
        }
        for (std::size_t index = 0; index < count; ++index) {
            if (index + slot_distance < count) {
                key_and_fetch_slot(packets[index + slot_distance].packet,
                                   ahead[(index + slot_distance) % lookahead_ring]);
            }
            const KeyedFlow& flow = ahead[index % lookahead_ring];
            const TimedPacket& timed = packets[index];
            if (duplicates_.is_duplicate(timed.timestamp, timed.packet, flow.hash)) {
                ++capture_.duplicates;
                continue;
            }
            tracker_.on_packet(timed.timestamp, timed.packet, flow.key, flow.hash);
        }
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
    struct KeyedFlow {
        FlowKey key;
        std::uint64_t hash = 0;
    };
    // How far ahead of the packet being tracked its slot is fetched.
    static constexpr std::size_t slot_distance = 12;
    static constexpr std::size_t lookahead_ring = 16;
    static_assert(slot_distance < lookahead_ring);

    void key_and_fetch_slot(const DecodedPacket& packet, KeyedFlow& flow) noexcept {
        flow.key = make_flow_key(packet);
        flow.hash = hash_flow_key(flow.key);
        tracker_.prefetch_slot(flow.hash);
    }

    ConnectionTracker tracker_;
    CaptureSummary capture_;
    DuplicateFilter duplicates_;
};

// The report's warnings about what the pipeline met: evictions, duplicates, clock steps.
std::vector<std::string> pipeline_warnings(const CaptureSummary& capture);

}  // namespace ephemera
