// Google Benchmark micro-benchmarks: the decoder and the connection table, in ns per packet, and
// a live refresh (LiveMonitor::snapshot) as the connections in its window grow.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <array>
#include <memory>
#include <utility>

#include "ephemera/analysis/live_monitor.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/track/tracker.hpp"

namespace {

using namespace ephemera;

// Ethernet + IPv4 + TCP SYN with options (pcaps/tcp-ipv4.pcap, first packet).
const std::vector<std::uint8_t> syn_frame = {
    0x7a, 0x82, 0x7c, 0x8d, 0x95, 0x83, 0xae, 0x4a, 0x1e, 0x80, 0x7a, 0x63, 0x08, 0x00, 0x45,
    0x00, 0x00, 0x3c, 0x02, 0xd0, 0x40, 0x00, 0x40, 0x06, 0xab, 0xc4, 0xc6, 0x12, 0x00, 0x01,
    0xc6, 0x12, 0x00, 0x02, 0x99, 0xb4, 0x1f, 0x90, 0x4b, 0xde, 0x7d, 0x48, 0x00, 0x00, 0x00,
    0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x8c, 0x56, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
    0x08, 0x0a, 0xb0, 0x80, 0x3b, 0x24, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a};

void decode_ethernet_tcp(benchmark::State& state) {
    for (auto _ : state) {
        DecodeResult result = decode_packet(LinkType::ethernet, syn_frame);
        benchmark::DoNotOptimize(result);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(decode_ethernet_tcp);

struct Discard : ConnectionSink {
    std::uint64_t count = 0;
    void on_connection(const Connection&) override { ++count; }
};

// Packets of `flows` concurrent flows, round-robin: each lookup hits a live entry.
void track_packets(benchmark::State& state) {
    const auto flows = static_cast<std::uint32_t>(state.range(0));
    std::vector<DecodedPacket> packets(flows);
    for (std::uint32_t i = 0; i < flows; ++i) {
        DecodedPacket& p = packets[i];
        p.protocol = Protocol::tcp;
        p.tcp_flags = tcp_flag::ack;
        p.source.address.family = p.destination.address.family = Family::ipv4;
        p.source.address.bytes = {198, 18, static_cast<std::uint8_t>(i >> 8),
                                  static_cast<std::uint8_t>(i)};
        p.destination.address.bytes = {198, 19, 0, 1};
        p.source.port = static_cast<std::uint16_t>(32768 + i % 28000);
        p.destination.port = 443;
    }
    Discard sink;
    ConnectionTracker tracker(TrackerOptions{}, sink);
    Micros now = 1'700'000'000'000'000;
    std::size_t next = 0;
    for (auto _ : state) {
        tracker.on_packet(++now, packets[next]);
        next = next + 1 == packets.size() ? 0 : next + 1;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(track_packets)->Arg(1'000)->Arg(100'000);

constexpr Micros refresh_window = 60'000'000;
constexpr Micros refresh_start = 1'700'000'000'000'000;

// The window's connection number `i`: 200 clients, each to one HTTPS server.
std::array<Endpoint, 2> window_endpoints(std::uint32_t i) {
    std::array<Endpoint, 2> endpoints;
    Endpoint& client = endpoints[0];
    client.address.family = Family::ipv4;
    client.address.bytes = {198, 18, 0, static_cast<std::uint8_t>(i % 200)};
    client.port = static_cast<std::uint16_t>(32768 + (i / 200) % 28000);
    Endpoint& server = endpoints[1];
    server.address.family = Family::ipv4;
    server.address.bytes = {198, 19, 0, 1};
    server.port = 443;
    return endpoints;
}

// A monitor and the tracker it is refreshed with.
struct TrackedMonitor {
    std::unique_ptr<LiveMonitor> monitor;
    std::unique_ptr<ConnectionTracker> tracker;
};

TrackedMonitor monitor_for(std::uint32_t connections) {
    LiveMonitorOptions options;
    options.window = refresh_window;
    options.max_records = connections;
    TrackedMonitor tracked;
    tracked.monitor = std::make_unique<LiveMonitor>(options, refresh_start);
    tracked.tracker = std::make_unique<ConnectionTracker>(TrackerOptions{}, *tracked.monitor);
    return tracked;
}

// `connections` closed connections spread evenly over the window's minute, all in the monitor's
// log, its tracker empty.
TrackedMonitor logged_window(std::uint32_t connections) {
    TrackedMonitor tracked = monitor_for(connections);
    for (std::uint32_t i = 0; i < connections; ++i) {
        Connection connection;
        connection.first_seen =
            refresh_start + static_cast<Micros>(i) * refresh_window / connections;
        connection.last_seen = connection.first_seen + 2'000;
        connection.close_time = connection.last_seen;
        connection.packets = {5, 4};
        // Distinct initial sequence numbers, as real SYNs have: equal ones on one service from
        // two clients would be paired as both sides of a translator (analysis/translation).
        connection.syn_sequence = i * 2654435761U;
        connection.syn_side = 0;
        connection.syn_ack_side = 1;
        connection.first_fin_side = 0;
        connection.set_fin(0);
        connection.set_fin(1);
        connection.end_reason = EndReason::closed;
        connection.endpoint = window_endpoints(i);
        tracked.monitor->on_connection(connection);
    }
    return tracked;
}

// The same connections fed as packets through the tracker (a SYN, its SYN-ACK, a FIN each way,
// 10 us apart), as `ephemera live` sees them: those closed within the last minute still linger
// in the tracker (up to TrackerOptions::max_connections of them), the rest are in the log.
TrackedMonitor tracked_window(std::uint32_t connections) {
    TrackedMonitor tracked = monitor_for(connections);
    for (std::uint32_t i = 0; i < connections; ++i) {
        DecodedPacket packet;
        packet.protocol = Protocol::tcp;
        const auto [client, server] = window_endpoints(i);
        packet.source = client;
        packet.destination = server;
        const std::uint32_t sequence = i * 2654435761U;
        const Micros start = refresh_start + static_cast<Micros>(i) * refresh_window / connections;
        const auto send = [&](Micros after, std::uint8_t flags, bool from_client) {
            DecodedPacket sent = packet;
            if (!from_client) std::swap(sent.source, sent.destination);
            sent.tcp_flags = flags;
            sent.sequence = sequence;
            tracked.tracker->on_packet(start + after, sent);
        };
        send(0, tcp_flag::syn, true);
        send(10, tcp_flag::syn | tcp_flag::ack, false);
        send(20, tcp_flag::fin | tcp_flag::ack, true);
        send(30, tcp_flag::fin | tcp_flag::ack, false);
    }
    return tracked;
}

using WindowMaker = TrackedMonitor (*)(std::uint32_t);

// One refresh of `ephemera live` with range(0) connections in its window, both halves.
void refresh(benchmark::State& state, WindowMaker make) {
    const TrackedMonitor tracked = make(static_cast<std::uint32_t>(state.range(0)));
    const CaptureSummary capture;
    for (auto _ : state) {
        LiveSnapshot snapshot =
            tracked.monitor->snapshot(refresh_start + refresh_window, *tracked.tracker, capture);
        benchmark::DoNotOptimize(snapshot);
    }
}

// The half of a refresh that holds up capturing: copying the window (LiveMonitor::take_window).
void refresh_capture_thread(benchmark::State& state, WindowMaker make) {
    const TrackedMonitor tracked = make(static_cast<std::uint32_t>(state.range(0)));
    const CaptureSummary capture;
    for (auto _ : state) {
        LiveWindow window =
            tracked.monitor->take_window(refresh_start + refresh_window, *tracked.tracker, capture);
        benchmark::DoNotOptimize(window);
    }
}

// live_refresh* with the window in the log; live_refresh_tracked* through a tracker.
const bool refreshes_registered = [] {
    const auto register_one = [](const char* name, auto body, WindowMaker make) {
        benchmark::RegisterBenchmark(name, body, make)
            ->Arg(100'000)
            ->Arg(1'000'000)
            ->Unit(benchmark::kMillisecond);
    };
    register_one("live_refresh", refresh, logged_window);
    register_one("live_refresh_capture_thread", refresh_capture_thread, logged_window);
    register_one("live_refresh_tracked", refresh, tracked_window);
    register_one("live_refresh_tracked_capture_thread", refresh_capture_thread, tracked_window);
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
