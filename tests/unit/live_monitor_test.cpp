// LiveMonitor: what `ephemera live` shows each interval, from packets given as decoded header
// fields, at chosen times. And the Prometheus page it serves.
#include <gtest/gtest.h>

#include "test_endpoints.hpp"

#include <fmt/format.h>

#include <regex>
#include <set>
#include <sstream>

#include "ephemera/analysis/live_monitor.hpp"
#include "ephemera/report/report.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {
namespace {

constexpr Micros second = 1'000'000;
using namespace tcp_flag;
using test::endpoint;

const Endpoint server = endpoint(2, 8080);

DecodedPacket tcp(const Endpoint& from, const Endpoint& to, std::uint8_t flags) {
    DecodedPacket packet;
    packet.source = from;
    packet.destination = to;
    packet.protocol = Protocol::tcp;
    packet.tcp_flags = flags;
    packet.sequence = 1000;
    return packet;
}

LiveMonitorOptions monitor_options() {
    LiveMonitorOptions options;
    options.ports.range = PortRange{40000, 40015};  // 16 ports
    options.ports.time_wait_s = 1.0;
    options.window = 10 * second;
    options.alert_at = 0.8;
    return options;
}

class LiveMonitorTest : public ::testing::Test {
  protected:
    Micros start = 1'700'000'000 * second;
    Micros now = start;
    LiveMonitor monitor{monitor_options(), start};
    ConnectionTracker tracker{TrackerOptions{}, monitor};
    CaptureSummary capture;

    void send(const DecodedPacket& packet) {
        now += 1000;
        capture.count_frame(now);
        tracker.on_packet(now, packet);
    }
    void open_port(std::uint16_t port) {
        const Endpoint client = endpoint(1, port);
        send(tcp(client, server, syn));
        send(tcp(server, client, syn | ack));
        send(tcp(client, server, ack));
    }
    void open(int connections) {
        for (int i = 0; i < connections; ++i) open_port(static_cast<std::uint16_t>(40000 + i));
    }
    void close_from_client(int connections) {
        for (int i = 0; i < connections; ++i) {
            const Endpoint client = endpoint(1, static_cast<std::uint16_t>(40000 + i));
            send(tcp(client, server, fin | ack));
            send(tcp(server, client, fin | ack));
            send(tcp(client, server, ack));
        }
    }
    LiveSnapshot snapshot_at(Micros time) { return monitor.snapshot(time, tracker, capture); }
};

TEST_F(LiveMonitorTest, OccupancyClimbsWithOpenConnectionsAndTheAlertIsRaisedOnce) {
    open(12);
    LiveSnapshot view = snapshot_at(now);
    ASSERT_EQ(view.destinations.size(), 1u);
    EXPECT_EQ(view.destinations[0].occupied, 12u);
    EXPECT_EQ(view.destinations[0].range_size, 16u);
    EXPECT_DOUBLE_EQ(view.destinations[0].utilization, 0.75);
    EXPECT_EQ(view.destinations[0].verdict, Verdict::warning);
    EXPECT_TRUE(view.alerts.empty()) << "0.75 is under the 0.8 threshold";

    open_port(40012);
    view = snapshot_at(now);
    EXPECT_EQ(view.destinations[0].occupied, 13u);
    ASSERT_EQ(view.alerts.size(), 1u);
    EXPECT_TRUE(view.alerts[0].raised);
    EXPECT_EQ(view.alerts[0].destination.server, server);

    view = snapshot_at(now + 1000);
    EXPECT_TRUE(view.alerts.empty()) << "still above: no second alert";
    EXPECT_EQ(view.open_connections, 13u);
    EXPECT_EQ(view.tcp_started_total, 13u) << "each start counted once across snapshots";
    EXPECT_EQ(view.destinations[0].connections_total, 13u);
    ASSERT_EQ(view.clients.size(), 1u);
    EXPECT_EQ(view.clients[0].started, 13u);
    EXPECT_EQ(view.clients[0].open, 13u);
}

TEST_F(LiveMonitorTest, TimeWaitHoldsPortsUntilItEndsThenTheAlertClears) {
    open(14);
    ASSERT_EQ(snapshot_at(now).alerts.size(), 1u);
    close_from_client(14);
    const Micros closed_at = now;

    LiveSnapshot view = snapshot_at(closed_at + second / 2);  // TIME_WAIT is 1 s
    EXPECT_EQ(view.destinations[0].occupied, 14u);
    EXPECT_TRUE(view.alerts.empty());
    EXPECT_EQ(view.open_connections, 0u);

    view = snapshot_at(closed_at + 2 * second);
    EXPECT_EQ(view.destinations[0].occupied, 0u);
    ASSERT_EQ(view.alerts.size(), 1u);
    EXPECT_FALSE(view.alerts[0].raised);

    // Past the window and the longest TIME_WAIT, the idle client leaves the view, though the
    // tracker (which lets connections go by packet time) still holds its closed connections.
    view = snapshot_at(closed_at + 60 * second);
    EXPECT_TRUE(view.destinations.empty());
    EXPECT_TRUE(view.clients.empty());
    EXPECT_EQ(view.tcp_started_total, 14u) << "totals stay";
}

// `ephemera live` takes the window on the capture thread and analyzes it on another while
// packets keep coming: the view is the window's as it was taken.
TEST_F(LiveMonitorTest, AWindowTakenIsAnalyzedAsItWasWhateverCameAfter) {
    open(12);
    LiveWindow window = monitor.take_window(now, tracker, capture);
    const Micros taken_at = now;
    open_port(40012);  // arrives while the window is analyzed
    close_from_client(13);
    const LiveSnapshot view = monitor.analyze(std::move(window));
    EXPECT_EQ(view.time, taken_at);
    ASSERT_EQ(view.destinations.size(), 1u);
    EXPECT_EQ(view.destinations[0].occupied, 12u);
    EXPECT_EQ(view.open_connections, 12u);
    EXPECT_EQ(view.tcp_started_total, 12u);
    EXPECT_TRUE(view.alerts.empty()) << "12 of 16 is under the threshold";

    // The next window sees the thirteenth connection and the closes (all in TIME_WAIT now),
    // and counts only the new start.
    const LiveSnapshot next = snapshot_at(now);
    EXPECT_EQ(next.destinations[0].occupied, 13u);
    EXPECT_EQ(next.open_connections, 0u);
    EXPECT_EQ(next.tcp_started_total, 13u);
    ASSERT_EQ(next.alerts.size(), 1u);
    EXPECT_TRUE(next.alerts[0].raised);
}

TEST_F(LiveMonitorTest, RatesAreOverTheWindow) {
    open(5);
    const LiveSnapshot view = snapshot_at(start + 10 * second);  // a full 10 s window
    ASSERT_EQ(view.destinations.size(), 1u);
    EXPECT_DOUBLE_EQ(view.destinations[0].new_per_s, 0.5);
    EXPECT_DOUBLE_EQ(view.destinations[0].sustainable_per_s, 16.0);  // 16 ports / 1 s
}

TEST_F(LiveMonitorTest, FailuresAreCountedOnceTheTrackerLetsThemGo) {
    const Endpoint client = endpoint(1, 40000);
    send(tcp(client, server, syn));
    send(tcp(server, client, rst | ack));
    tracker.finish();
    const LiveSnapshot view = snapshot_at(now);
    ASSERT_EQ(view.failures.size(), 1u);
    EXPECT_EQ(view.failures.begin()->second.refused, 1u);
    EXPECT_EQ(monitor.log().records().size(), 1u) << "kept for the final report";
}

// A refused attempt counts as soon as it is refused, while the tracker still holds it for its
// late packets, and once only when the tracker has let it go.
TEST_F(LiveMonitorTest, ARefusedAttemptCountsAtOnceAndOnce) {
    const Endpoint client = endpoint(1, 40000);
    send(tcp(client, server, syn));
    send(tcp(server, client, rst | ack));
    const LiveSnapshot lingering = snapshot_at(now);
    EXPECT_TRUE(monitor.log().records().empty()) << "the tracker's still, for its late packets";
    ASSERT_EQ(lingering.failures.size(), 1u);
    EXPECT_EQ(lingering.failures.begin()->second.refused, 1u);
    tracker.finish();
    const LiveSnapshot after = snapshot_at(now);
    ASSERT_EQ(after.failures.size(), 1u);
    EXPECT_EQ(after.failures.begin()->second.refused, 1u);
}

// One that has left the window (its last packet before the window and TIME_WAIT) while the
// tracker still holds it counts too: failures are since the start.
TEST_F(LiveMonitorTest, ARefusedAttemptOutsideTheWindowStillCounts) {
    const Endpoint client = endpoint(1, 40000);
    send(tcp(client, server, syn));
    send(tcp(server, client, rst | ack));
    const LiveSnapshot later = snapshot_at(now + 30 * second);  // window 10 s, TIME_WAIT 1 s
    EXPECT_EQ(tracker.lingering_connections(), 1u) << "no packet since: the tracker holds it";
    EXPECT_TRUE(later.clients.empty()) << "out of the window";
    ASSERT_EQ(later.failures.size(), 1u);
    EXPECT_EQ(later.failures.begin()->second.refused, 1u);
}

// Every sample follows its family's # HELP and # TYPE lines, label values are escaped, and only
// the top destinations are exported.
TEST_F(LiveMonitorTest, PrometheusPageIsWellFormedAndCapped) {
    for (int i = 0; i < 3; ++i) {
        const Endpoint client = endpoint(1, 40000);
        const Endpoint service = endpoint(2, static_cast<std::uint16_t>(8000 + i));
        send(tcp(client, service, syn));
        send(tcp(service, client, syn | ack));
    }
    const LiveSnapshot view = snapshot_at(now);
    ASSERT_EQ(view.destinations.size(), 3u);
    LiveHealth health;
    health.interface = "odd\"name\\";
    health.packets = 6;
    const std::string page = render_prometheus(view, health, 2);

    EXPECT_NE(page.find("ephemera_packets_total{interface=\"odd\\\"name\\\\\"} 6\n"),
              std::string::npos)
        << page;
    std::set<std::string> typed;
    std::size_t occupied_series = 0;
    const std::regex sample(R"(^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$)");
    std::istringstream lines(page);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("# TYPE ", 0) == 0) {
            typed.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.rfind("# HELP ", 0) == 0) continue;
        std::smatch parts;
        ASSERT_TRUE(std::regex_match(line, parts, sample)) << line;
        EXPECT_TRUE(typed.contains(parts[1])) << "no # TYPE before " << line;
        occupied_series += parts[1] == "ephemera_destination_occupied_ports";
    }
    EXPECT_EQ(occupied_series, 2u);
    EXPECT_NE(page.find("ephemera_destinations 3\n"), std::string::npos);
}

}  // namespace
}  // namespace ephemera

namespace ephemera {
namespace {

// A live capture running for days keeps at most max_records finished connections: the oldest
// eighth goes when the log is full, and the count of what went is kept for the final report.
TEST(ConnectionLogLimit, KeepsTheNewestWithinTheLimitAndCountsTheRest) {
    ConnectionLog log(16);
    for (std::uint16_t i = 0; i < 100; ++i) {
        Connection connection;
        connection.protocol = Protocol::tcp;
        connection.endpoint = {test::endpoint(1, static_cast<std::uint16_t>(40000 + i)),
                               test::endpoint(2, 8080)};
        connection.syn_side = 0;
        connection.first_seen = connection.last_seen = i;
        log.on_connection(connection);
        ASSERT_LE(log.records().size(), 16u);
    }
    EXPECT_EQ(log.dropped() + log.records().size(), 100u);
    EXPECT_EQ(log.records().back().first_seen, 99);
    EXPECT_EQ(log.records()[0].first_seen, static_cast<Micros>(log.dropped()));
}

// Each connection from a host never seen before: the log forgets the hosts of the records it
// dropped, and the records it keeps still name theirs.
TEST(ConnectionLogLimit, ForgetsTheHostsOfDroppedRecords) {
    constexpr std::size_t limit = 16;
    ConnectionLog log(limit);
    for (std::uint32_t i = 0; i < 5000; ++i) {
        Connection connection;
        connection.protocol = Protocol::tcp;
        Address client;
        ASSERT_TRUE(parse_address(fmt::format("2001:db8::{:x}", i + 1), client));
        connection.endpoint = {Endpoint{client, 40000}, test::endpoint(2, 8080)};
        connection.syn_side = 0;
        connection.first_seen = connection.last_seen = i;
        log.on_connection(connection);
    }
    const ConnectionRecords& records = log.records();
    EXPECT_LE(records.host_count(), 4 * limit + 64 + 2) << "hosts of dropped records kept";
    for (const ConnectionRecord& record : records) {
        const auto i = static_cast<std::uint32_t>(record.first_seen);
        EXPECT_EQ(to_string(records.client(record).address), fmt::format("2001:db8::{:x}", i + 1));
        EXPECT_EQ(records.server(record), test::endpoint(2, 8080));
    }
}

}  // namespace
}  // namespace ephemera
