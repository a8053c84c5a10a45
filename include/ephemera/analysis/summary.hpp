// Stage 4b: connection records -> the report model: per-client and per-server tallies.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ephemera/analysis/ports.hpp"
#include "ephemera/analysis/roles.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/track/tracker.hpp"

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
    // Returns the tunnel's index in `tunnels`.
    std::size_t count_tunnel(const TunnelInfo& tunnel) {
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
                               tunnel.outer_destination, 0});
        }
        ++tunnels[found->second].packets;
        last_counted_tunnel = found->second;
        return last_counted_tunnel;
    }
    static bool same_tunnel(const TunnelTally& tally, const TunnelInfo& tunnel) noexcept {
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

struct PortStats {
    std::uint32_t distinct = 0;
    std::uint16_t min = 0;
    std::uint16_t max = 0;
};

struct ClientSummary {
    Address address;
    std::string segment;  // with --split-segments, its segment's name (segment_name); else empty
    std::uint64_t tcp_connections = 0;
    std::uint64_t udp_flows = 0;
    PortStats ports;
    std::uint32_t servers = 0;              // distinct (address, port, protocol) it talked to
    std::array<std::uint64_t, 7> states{};  // indexed by ConnectionState
    ClientPorts port_use;                   // range, allocation, reuse, exhaustion, failures

    std::uint64_t connections() const noexcept { return tcp_connections + udp_flows; }
};

struct ServerSummary {
    Endpoint endpoint;
    std::string segment;  // as ClientSummary::segment
    Protocol protocol = Protocol::tcp;
    std::uint64_t connections = 0;
    std::uint32_t clients = 0;  // distinct client addresses
    std::uint32_t client_ports = 0;
};

// A source whose TCP connections are nearly all probes (no payload either way, refused,
// unanswered or reset at once) to many distinct ports.
struct ScanSummary {
    Address source;
    std::uint32_t hosts = 0;  // distinct addresses probed
    std::uint32_t ports = 0;  // distinct (address, port) probed
    std::uint64_t probes = 0;
    std::uint64_t answered = 0;  // probes the target answered with SYN-ACK: open ports
    Micros first = 0;
    Micros last = 0;
};

struct ScanOptions {
    std::uint32_t min_ports = 100;  // distinct ports probed
    double min_probe_share = 0.8;   // of the source's TCP connections
};

struct Report {
    CaptureSummary capture;
    std::vector<std::string> warnings;
    std::uint64_t tcp_connections = 0;
    std::uint64_t udp_flows = 0;
    std::array<std::uint64_t, 7> states{};
    std::array<std::uint64_t, role_reason_count> role_reasons{};
    std::vector<ClientSummary> clients;  // closest to exhaustion first, then busiest
    std::vector<ServerSummary> servers;  // busiest first
    std::vector<ScanSummary> scans;      // left out of clients and servers
    double warning_at = 0.5;             // the verdict thresholds the analysis used
    double critical_at = 0.8;
    double exhausted_at = 1.0;
};

// Collects finished connections from the tracker and gives each its handshake role at once.
// With max_records, the oldest eighth is dropped whenever the log is full (a live capture that
// runs for days); dropped() counts them.
class ConnectionLog : public ConnectionSink {
  public:
    explicit ConnectionLog(std::size_t max_records = SIZE_MAX);
    void on_connection(const Connection& connection) override;
    KeptConnection kept(std::uint64_t number) noexcept override;
    std::span<std::byte> space_ahead() noexcept override;
    ConnectionRecords& records() noexcept { return records_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

  private:
    ConnectionRecords records_;
    std::size_t max_records_;
    std::uint64_t dropped_ = 0;
};

// Whether `a` started before `b` (both of `records`): by first packet, then endpoints, then place
// in the log.
bool starts_before(const ConnectionRecords& records, const ConnectionRecord* a,
                   const ConnectionRecord* b) noexcept;
// Orders `connections` (of `records`) as starts_before does. Fast where they are nearly in that
// order already, as the log's are: it holds connections in the order they ended.
void sort_by_start(const ConnectionRecords& records,
                   std::vector<const ConnectionRecord*>& connections);
// Every record, as sort_by_start orders them (for the CSV output: build_report does not need it).
std::vector<const ConnectionRecord*> oldest_first(const ConnectionRecords& records);

// Finishes the roles and tallies the records, in any order (as the log has them: by end).
// Handshake roles are looked at again first: a record may have changed since it was logged.
// "vlan:100/vxlan:42": the VLANs and tunnels of segment `number` (Address::segment), outermost
// first, each with its id where it has one; empty for 0 (no segment).
std::string segment_name(const CaptureSummary& capture, std::uint8_t number);

Report build_report(ConnectionRecords& records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options);

}  // namespace ephemera
