// What the capture stage, the decoder and the tracker saw, counted as packets pass (track/pipeline)
// and carried into the report unchanged.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ephemera/decode/decode.hpp"

namespace ephemera {

// Packets that came through one tunnel: its kind, id and outer endpoints (the outermost tunnel
// of each packet).
struct TunnelTally {
    TunnelKind kind = TunnelKind::none;
    bool has_id = false;
    std::uint32_t id = 0;
    Address outer_source;
    Address outer_destination;
    std::uint64_t packets = 0;
    std::uint64_t inner_connections = 0;  // connections whose first packet came through it
    Micros first_seen = 0;                // its first packet's time
};

// What the capture stage and the decoder saw, carried into the report unchanged.
struct CaptureSummary {
    struct File {
        std::string path;
        std::string link_type;  // libpcap's names of every link type in it, ", " between them
        std::uint64_t packets = 0;
        std::uint32_t sections = 1;
        std::string compression = "none";
        // Set when reading stopped before the end of the input: why, and how much was left.
        std::string stopped;
        std::uint64_t bytes_unread = 0;
    };
    std::vector<File> files;
    std::uint64_t packets = 0;
    std::uint64_t decoded = 0;
    Micros first = 0;
    Micros last = 0;
    std::array<std::uint64_t, decode_status_count> skipped{};
    // Decoded packets by the tunnel they came through, in order of first appearance.
    std::vector<TunnelTally> tunnels;
    std::map<std::tuple<TunnelKind, bool, std::uint32_t, Address, Address>, std::size_t>
        tunnel_index;

    // Both directions of a tunnel are one tunnel, named in the direction first seen. Packets
    // come in runs through the same tunnel: the last one's tally is tried before the map.
    // Returns the tunnel's index in `tunnels`. `timestamp`: the packet's.
    std::size_t count_tunnel(const TunnelInfo& tunnel, Micros timestamp) {
        if (last_counted_tunnel < tunnels.size() &&
            same_tunnel(tunnels[last_counted_tunnel], tunnel)) {
            ++tunnels[last_counted_tunnel].packets;
            return last_counted_tunnel;
        }
        const bool forward = !(tunnel.outer_destination < tunnel.outer_source);
        const auto key = std::make_tuple(tunnel.kind, tunnel.has_id, tunnel.id,
                                         forward ? tunnel.outer_source : tunnel.outer_destination,
                                         forward ? tunnel.outer_destination : tunnel.outer_source);
        const auto [found, added] = tunnel_index.try_emplace(key, tunnels.size());
        if (added) {
            tunnels.push_back({tunnel.kind, tunnel.has_id, tunnel.id, tunnel.outer_source,
                               tunnel.outer_destination, 0, 0, timestamp});
        }
        ++tunnels[found->second].packets;
        last_counted_tunnel = found->second;
        return last_counted_tunnel;
    }
    // `tunnel`: a TunnelInfo, or another TunnelTally (states merged: app/state_file).
    template <typename Tunnel>
    static bool same_tunnel(const TunnelTally& tally, const Tunnel& tunnel) noexcept {
        if (tally.kind != tunnel.kind || tally.has_id != tunnel.has_id || tally.id != tunnel.id) {
            return false;
        }
        return (tally.outer_source == tunnel.outer_source &&
                tally.outer_destination == tunnel.outer_destination) ||
               (tally.outer_source == tunnel.outer_destination &&
                tally.outer_destination == tunnel.outer_source);
    }
    std::size_t last_counted_tunnel = SIZE_MAX;
    // --split-segments: the segments packets came through, numbered from 1 (Address::segment)
    // in order of first appearance. At most max_segments: later ones share the last number.
    static constexpr std::size_t max_segments = 255;
    std::vector<SegmentPath> segments;
    std::uint64_t packets_in_shared_segment = 0;  // packets of segments beyond max_segments
    bool split_segments = false;
    std::uint8_t segment_of(const SegmentPath& path) {
        if (last_segment != 0 && segments[last_segment - 1] == path) return last_segment;
        for (std::size_t i = 0; i < segments.size(); ++i) {
            if (segments[i] == path) return last_segment = static_cast<std::uint8_t>(i + 1);
        }
        if (segments.size() == max_segments) {
            ++packets_in_shared_segment;
            return static_cast<std::uint8_t>(max_segments);
        }
        segments.push_back(path);
        return last_segment = static_cast<std::uint8_t>(segments.size());
    }
    std::uint8_t last_segment = 0;
    std::uint64_t duplicates = 0;      // decoded packets seen twice within a millisecond
    std::uint64_t backward_steps = 0;  // packets earlier than the one before them
    Micros largest_backward_step = 0;
    Micros previous = 0;
    // The tracker's table limit and what it evicted at it (see TrackerOptions).
    std::size_t max_connections = 0;
    std::uint64_t evicted_half_open = 0;
    std::uint64_t evicted_other = 0;
    bool filtered = false;  // --filter chose the packets
    // A live capture's pcap_stats: what the kernel's buffer and the interface dropped.
    bool live = false;
    std::uint64_t kernel_drops = 0;
    std::uint64_t interface_drops = 0;

    void count_frame(Micros timestamp) noexcept {
        if (packets == 0 || timestamp < first) first = timestamp;
        if (packets == 0 || timestamp > last) last = timestamp;
        if (packets > 0 && timestamp < previous) {
            ++backward_steps;
            largest_backward_step = std::max(largest_backward_step, previous - timestamp);
        }
        previous = timestamp;
        ++packets;
    }
};

}  // namespace ephemera
