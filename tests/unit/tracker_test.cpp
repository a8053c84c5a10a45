// Tracker rules, one test per rule. Packets are given as decoded header fields.
#include <gtest/gtest.h>

#include "test_endpoints.hpp"

#include <vector>

#include "ephemera/core/large_buffer.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {
namespace {

constexpr Micros second = 1'000'000;

using test::endpoint;

const Endpoint client = endpoint(1, 40000);
const Endpoint server = endpoint(2, 8080);

DecodedPacket tcp(const Endpoint& from, const Endpoint& to, std::uint8_t flags,
                  std::uint32_t sequence = 1000, std::uint32_t payload = 0) {
    DecodedPacket packet;
    packet.source = from;
    packet.destination = to;
    packet.protocol = Protocol::tcp;
    packet.tcp_flags = flags;
    packet.sequence = sequence;
    packet.payload_length = payload;
    return packet;
}

DecodedPacket udp(const Endpoint& from, const Endpoint& to, std::uint32_t payload = 10) {
    DecodedPacket packet;
    packet.source = from;
    packet.destination = to;
    packet.protocol = Protocol::udp;
    packet.payload_length = payload;
    return packet;
}

using namespace tcp_flag;

struct Collected : ConnectionSink {
    std::vector<Connection> connections;
    void on_connection(const Connection& connection) override { connections.push_back(connection); }
};

// The reading thread hashes a packet where it lies; the tracker hashes a connection's key when it
// erases it. The two must agree, whichever way the packet went, or a slot is never found again.
TEST(FlowHash, APacketsHashIsItsKeysEitherWay) {
    Endpoint v6_client;
    v6_client.address.family = Family::ipv6;
    v6_client.address.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    v6_client.port = 51000;
    Endpoint v6_server = v6_client;
    v6_server.address.bytes[15] = 2;
    v6_server.port = 443;
    const Endpoint same_host_other_port = endpoint(1, 8080);
    const std::vector<DecodedPacket> packets = {tcp(client, server, syn),
                                                tcp(server, client, syn | ack),
                                                udp(client, server),
                                                tcp(v6_client, v6_server, ack),
                                                udp(v6_server, v6_client),
                                                tcp(client, same_host_other_port, ack),
                                                tcp(same_host_other_port, client, ack)};
    for (const DecodedPacket& packet : packets) {
        EXPECT_EQ(hash_flow_of(packet), hash_flow_key(make_flow_key(packet)));
        DecodedPacket reversed = packet;
        std::swap(reversed.source, reversed.destination);
        EXPECT_EQ(hash_flow_of(reversed), hash_flow_of(packet));
    }
    EXPECT_NE(hash_flow_of(udp(client, server)), hash_flow_of(tcp(client, server, ack)));
}

class TrackerTest : public ::testing::Test {
  protected:
    Collected sink;
    ConnectionTracker tracker{TrackerOptions{}, sink};
    Micros now = 1'700'000'000 * second;

    void send(const DecodedPacket& packet, Micros advance = 1000) {
        now += advance;
        tracker.on_packet(now, packet);
    }
    void handshake(std::uint32_t isn = 1000) {
        send(tcp(client, server, syn, isn));
        send(tcp(server, client, syn | ack, 5000));
        send(tcp(client, server, ack, isn + 1));
    }
    void close_from_client() {
        send(tcp(client, server, fin | ack));
        send(tcp(server, client, fin | ack));
        send(tcp(client, server, ack));
    }
    const std::vector<Connection>& finished() {
        tracker.finish();
        return sink.connections;
    }
};

TEST_F(TrackerTest, FullConnectionIsOneClosedRecord) {
    handshake();
    send(tcp(client, server, psh | ack, 1001, 6));
    send(tcp(server, client, psh | ack, 5001, 12));
    close_from_client();
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    const Connection& connection = connections[0];
    EXPECT_EQ(connection.endpoint[0], client);
    EXPECT_EQ(connection.syn_side, 0);
    EXPECT_EQ(connection.syn_ack_side, 1);
    EXPECT_EQ(connection.first_fin_side, 0);
    EXPECT_EQ(connection.state(), ConnectionState::closed);
    EXPECT_EQ(connection.packets[0], 5u);
    EXPECT_EQ(connection.packets[1], 3u);
    EXPECT_EQ(connection.payload_bytes[0], 6u);
    EXPECT_EQ(connection.payload_bytes[1], 12u);
}

TEST_F(TrackerTest, SameSynAgainIsARetransmission) {
    send(tcp(client, server, syn, 777));
    send(tcp(client, server, syn, 777), second);
    send(tcp(client, server, syn, 777), 2 * second);
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_EQ(connections[0].syn_retransmissions, 2);
    EXPECT_EQ(connections[0].state(), ConnectionState::unanswered);
}

TEST_F(TrackerTest, SynAnsweredByRstIsRefused) {
    send(tcp(client, server, syn));
    send(tcp(server, client, rst | ack));
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_EQ(connections[0].state(), ConnectionState::refused);
}

TEST_F(TrackerTest, NewSynAfterCloseStartsANewConnection) {
    handshake(1000);
    close_from_client();
    handshake(90000);
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 2u);
    EXPECT_EQ(connections[0].end_reason, EndReason::replaced);
    EXPECT_EQ(connections[0].state(), ConnectionState::closed);
    EXPECT_EQ(connections[1].syn_sequence, 90000u);
    EXPECT_EQ(connections[1].state(), ConnectionState::open);
}

TEST_F(TrackerTest, NewIsnWhileOpenStartsANewConnection) {
    handshake(1000);
    handshake(2000);
    EXPECT_EQ(finished().size(), 2u);
}

TEST_F(TrackerTest, RefusedReuseKeepsOneAttempt) {
    // RFC 6191: the server answers a SYN on its TIME_WAIT 4-tuple with the old ACK, the client
    // resets, then retransmits the same SYN, which is accepted.
    send(tcp(client, server, syn, 4242));
    send(tcp(server, client, ack, 5000));
    send(tcp(client, server, rst, 5000));
    send(tcp(client, server, syn, 4242), second);
    send(tcp(server, client, syn | ack, 9000));
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_EQ(connections[0].syn_retransmissions, 1);
}

TEST_F(TrackerTest, AcksAfterCloseDoNotStartAConnection) {
    handshake();
    close_from_client();
    send(tcp(server, client, fin | ack));  // retransmitted FIN
    send(tcp(client, server, ack));
    EXPECT_EQ(finished().size(), 1u);
}

TEST_F(TrackerTest, MidStreamHasNoHandshakeSide) {
    send(tcp(server, client, psh | ack, 1, 100));
    send(tcp(client, server, ack, 1));
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_EQ(connections[0].syn_side, no_side);
    EXPECT_EQ(connections[0].syn_ack_side, no_side);
    EXPECT_EQ(connections[0].endpoint[0], server);
    EXPECT_EQ(connections[0].state(), ConnectionState::open);
}

TEST_F(TrackerTest, CaptureStartingWithSynAckKnowsTheServer) {
    send(tcp(server, client, syn | ack));
    send(tcp(client, server, ack));
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_EQ(connections[0].syn_ack_side, 0);
}

TEST_F(TrackerTest, UdpFlowEndsAfterIdleTimeout) {
    send(udp(client, server));
    send(udp(server, client));
    send(udp(client, server), 59 * second);  // within 60 s: same flow
    send(udp(client, server), 61 * second);  // after 61 s of silence: a new flow
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 2u);
    EXPECT_EQ(connections[0].end_reason, EndReason::idle);
    EXPECT_EQ(connections[0].total_packets(), 3u);
    EXPECT_EQ(connections[1].total_packets(), 1u);
}

// The sink has a closed connection once its linger has passed, final: with the packets that came
// after the close, and not before.
TEST_F(TrackerTest, AClosedConnectionReachesTheSinkFinalAfterItsLinger) {
    handshake();
    close_from_client();
    EXPECT_TRUE(sink.connections.empty()) << "handed over on closing";
    EXPECT_EQ(tracker.lingering_connections(), 1u);
    send(tcp(server, client, fin | ack), 30 * second);           // retransmitted FIN, 30 s later
    send(udp(endpoint(3, 5000), endpoint(4, 53)), 59 * second);  // within its linger
    EXPECT_TRUE(sink.connections.empty()) << "quiet for 59 s only, since the late FIN";
    send(udp(endpoint(3, 5000), endpoint(4, 53)), 11 * second);  // the next sweep
    ASSERT_EQ(sink.connections.size(), 1u);
    EXPECT_EQ(sink.connections[0].packets[1], 3u) << "the late FIN is in it";
    EXPECT_EQ(sink.connections[0].end_reason, EndReason::closed);
    EXPECT_EQ(tracker.lingering_connections(), 0u);
}

// A new connection taking over a lingering one's 4-tuple hands the old one over at once.
TEST_F(TrackerTest, ANewConnectionHandsOverTheOneItReplaces) {
    handshake(1000);
    close_from_client();
    handshake(90000);
    ASSERT_EQ(sink.connections.size(), 1u);
    EXPECT_EQ(sink.connections[0].end_reason, EndReason::replaced);
    EXPECT_EQ(sink.connections[0].syn_sequence, 1000u);
}

// Live reads both: what is open, and a copy of what closed and lingers.
TEST_F(TrackerTest, ShowsOpenAndLingeringConnections) {
    handshake();
    close_from_client();
    send(tcp(endpoint(5, 40001), server, syn, 7));
    std::vector<Connection> open;
    std::vector<Connection> lingering;
    tracker.for_each_open_connection([&](const Connection& c) { open.push_back(c); });
    ConnectionTracker::LingeringCopy copy;
    tracker.copy_lingering(copy);
    copy.for_each([&](const Connection& c) { lingering.push_back(c); });
    ASSERT_EQ(open.size(), 1u);
    ASSERT_EQ(lingering.size(), 1u);
    EXPECT_EQ(open[0].endpoint[0], endpoint(5, 40001));
    EXPECT_EQ(lingering[0].endpoint[0], client);
    EXPECT_EQ(lingering[0].state(), ConnectionState::closed);
    EXPECT_EQ(lingering[0].packets[0], 4u);
    handshake(90000);  // takes over the closed one's 4-tuple: the sink has it now
    tracker.copy_lingering(copy);
    std::size_t still = 0;
    copy.for_each([&](const Connection&) { ++still; });
    EXPECT_EQ(still, 0u);
}

// The ring of lingering connections offers the half it grows into next once it is three quarters
// full, for another thread to fault in, and nothing before.
TEST_F(TrackerTest, TheLingeringRingOffersItsNextHalfBeforeItGrows) {
    if (!large_buffer::reserving_is_free) {
        GTEST_SKIP() << "sanitized build: the ring grows by copying, nothing is offered";
    }
    const GrowsIntoFreshMemory& ring = tracker.lingering_memory();
    const auto close_one = [&](std::uint16_t port) {
        const Endpoint from = endpoint(1, port);
        send(tcp(from, server, syn, 1));
        send(tcp(server, from, rst | ack, 2));
    };
    constexpr std::uint16_t first_port = 20000;
    std::uint16_t port = first_port;
    while (tracker.lingering_connections() < 767) close_one(port++);
    EXPECT_TRUE(ring.fresh_memory_ahead().empty()) << "under three quarters full";
    close_one(port++);
    const std::span<std::byte> next_half = ring.fresh_memory_ahead();
    ASSERT_FALSE(next_half.empty()) << "three quarters of its 1024 entries";
    const std::size_t entry_size = next_half.size() / 1024;
    EXPECT_EQ(next_half.size() % 1024, 0u);
    while (tracker.lingering_connections() < 1025) close_one(port++);
    EXPECT_TRUE(ring.fresh_memory_ahead().empty()) << "grown to 2048: half full";
    while (tracker.lingering_connections() < 1536) close_one(port++);
    EXPECT_EQ(ring.fresh_memory_ahead().size(), 2048 * entry_size);
    tracker.finish();
    EXPECT_EQ(sink.connections.size(), static_cast<std::size_t>(port - first_port))
        << "every one handed over";
}

TEST_F(TrackerTest, ClosedConnectionLeavesTheTableAfterTheLinger) {
    handshake();
    close_from_client();
    send(udp(endpoint(3, 5000), endpoint(4, 53)), 61 * second);  // time moves on
    EXPECT_EQ(sink.connections.size(), 1u) << "emitted by the sweep, before finish()";
    EXPECT_EQ(sink.connections[0].end_reason, EndReason::closed);
    EXPECT_EQ(tracker.open_connections(), 1u);
}

// Many flows through growth and erasure: each comes out once, with all of its packets.
TEST_F(TrackerTest, TableGrowsAndErasesWithoutLosingFlows) {
    constexpr int flows = 5000;
    for (int round = 0; round < 2; ++round) {
        for (int flow = 0; flow < flows; ++flow) {
            const auto port = static_cast<std::uint16_t>(10000 + flow);
            const Endpoint from = endpoint(static_cast<std::uint8_t>(1 + flow % 7), port);
            // Even flows go quiet after the first round and are expired by the sweep.
            if (round == 1 && flow % 2 == 0) continue;
            send(udp(from, server), 1);
        }
        if (round == 0) send(udp(endpoint(9, 9), endpoint(9, 10)), 30 * second);
    }
    send(udp(endpoint(9, 9), endpoint(9, 10)), 45 * second);  // even flows now idle > 60 s
    const auto& connections = finished();
    std::size_t even = 0;
    std::size_t odd = 0;
    for (const Connection& connection : connections) {
        if (connection.endpoint[1] != server) continue;
        const int flow = connection.endpoint[0].port - 10000;
        if (flow % 2 == 0) {
            ++even;
            EXPECT_EQ(connection.total_packets(), 1u);
            EXPECT_EQ(connection.end_reason, EndReason::idle);
        } else {
            ++odd;
            EXPECT_EQ(connection.total_packets(), 2u);
        }
    }
    EXPECT_EQ(even, flows / 2u);
    EXPECT_EQ(odd, flows / 2u);
}

// finish() gives the table's pages back as it empties it: every connection still comes out
// whole, including those past the first pages given back (the table here is ~12 MiB).
TEST_F(TrackerTest, FinishHandsOverEveryConnectionOfALargeTable) {
    constexpr int flows = 100'000;
    for (int flow = 0; flow < flows; ++flow) {
        const Endpoint from = endpoint(static_cast<std::uint8_t>(1 + flow / 50'000),
                                       static_cast<std::uint16_t>(10'000 + flow % 50'000));
        send(udp(from, server, static_cast<std::uint32_t>(flow)), 1);
    }
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), static_cast<std::size_t>(flows));
    std::vector<bool> seen(flows);
    for (const Connection& connection : connections) {
        const int flow = (connection.endpoint[0].address.bytes[3] - 1) * 50'000 +
                         connection.endpoint[0].port - 10'000;
        ASSERT_GE(flow, 0);
        ASSERT_LT(flow, flows);
        EXPECT_FALSE(seen[flow]) << "flow " << flow << " came out twice";
        seen[flow] = true;
        EXPECT_EQ(connection.endpoint[1], server);
        EXPECT_EQ(connection.payload_bytes[0], static_cast<std::uint64_t>(flow));
        EXPECT_EQ(connection.end_reason, EndReason::capture_end);
    }
}

}  // namespace
}  // namespace ephemera

namespace ephemera {
namespace {

TEST_F(TrackerTest, ServerInTimeWaitRefusingAReusedTupleIsACollision) {
    send(tcp(client, server, syn, 4242));
    send(tcp(server, client, ack, 5000));  // the old connection's ACK
    send(tcp(client, server, rst, 5000));
    send(tcp(client, server, syn, 4242), second);
    send(tcp(server, client, syn | ack, 9000));
    send(tcp(client, server, ack, 4243));
    const auto& connections = finished();
    ASSERT_EQ(connections.size(), 1u);
    EXPECT_TRUE(connections[0].time_wait_collision);
    EXPECT_EQ(connections[0].state(), ConnectionState::open) << "the RST did not end it";
}

}  // namespace
}  // namespace ephemera

namespace ephemera {
namespace {

struct LimitTest : ::testing::Test {
    Collected sink;
    TrackerOptions options = [] {
        TrackerOptions limited;
        limited.max_connections = 16;
        return limited;
    }();
    ConnectionTracker tracker{options, sink};
    Micros now = 1'700'000'000 * second;

    void send(const DecodedPacket& packet) { tracker.on_packet(++now, packet); }
    void open(const Endpoint& from) {
        send(tcp(from, server, syn, 1));
        send(tcp(server, from, syn | ack, 2));
    }
    void close(const Endpoint& from) {
        send(tcp(from, server, fin | ack, 3));
        send(tcp(server, from, fin | ack, 4));
    }
    std::size_t finished_in(ConnectionState state) {
        std::size_t count = 0;
        for (const Connection& c : sink.connections) count += c.state() == state;
        return count;
    }
};

// Closed connections leave the table when they close: however many a host closes, they never
// push open ones out.
TEST_F(LimitTest, ClosedConnectionsDoNotCountAgainstTheLimit) {
    for (std::uint16_t i = 0; i < 6; ++i) open(endpoint(1, 41000 + i));
    for (std::uint16_t i = 0; i < 40; ++i) {
        open(endpoint(1, 42000 + i));
        close(endpoint(1, 42000 + i));
    }
    EXPECT_EQ(tracker.open_connections(), 6u);
    EXPECT_EQ(tracker.evictions().other, 0u);
    EXPECT_EQ(tracker.evictions().half_open, 0u);
    tracker.finish();
    EXPECT_EQ(finished_in(ConnectionState::open), 6u);
    EXPECT_EQ(finished_in(ConnectionState::closed), 40u);
}

// At the limit half-open attempts go first, and are only counted; open connections stay.
TEST_F(LimitTest, EvictsHalfOpenFirstAndCountsThem) {
    for (std::uint16_t i = 0; i < 12; ++i) open(endpoint(1, 41000 + i));
    for (std::uint16_t i = 0; i < 8; ++i) send(tcp(endpoint(9, 50000 + i), server, syn, 1));
    EXPECT_LE(tracker.open_connections(), 16u);
    EXPECT_GT(tracker.evictions().half_open, 0u);
    EXPECT_EQ(tracker.evictions().other, 0u) << "an open connection went before a half-open one";
    tracker.finish();
    EXPECT_EQ(finished_in(ConnectionState::open), 12u);
    EXPECT_EQ(finished_in(ConnectionState::unanswered), 0u) << "half-open ones are not records";
}

// As many closed connections linger as the limit allows, the longest closed giving way: a late
// ACK of one still lingering counts in its record; one of a connection let go starts anew.
TEST_F(LimitTest, LingeringIsBoundedByTheLimit) {
    for (std::uint16_t i = 0; i < 40; ++i) {
        open(endpoint(1, 42000 + i));
        close(endpoint(1, 42000 + i));
    }
    EXPECT_EQ(tracker.lingering_connections(), 16u);
    send(tcp(endpoint(1, 42039), server, ack, 5));  // still lingering
    send(tcp(endpoint(1, 42000), server, ack, 5));  // let go long ago
    tracker.finish();
    ASSERT_EQ(sink.connections.size(), 41u);
    EXPECT_EQ(sink.connections[39].packets[0], 3u) << "the late ACK counts in its record";
    EXPECT_EQ(sink.connections[40].endpoint[0], endpoint(1, 42000));
    EXPECT_EQ(sink.connections[40].state(), ConnectionState::open) << "a mid-stream start";
}

// A late packet can take a lingering connection past what its narrow form holds (71 minutes
// after its first packet): from then on it lingers wide, and comes out whole.
TEST_F(LimitTest, ALatePacketMakesALingeringConnectionWide) {
    const Endpoint from = endpoint(1, 43001);
    open(from);
    now += 4290 * second;
    close(from);
    now += 10 * second;
    send(tcp(from, server, ack, 5));
    const Micros last = now;
    tracker.finish();
    ASSERT_EQ(sink.connections.size(), 1u);
    EXPECT_EQ(sink.connections[0].last_seen, last);
    EXPECT_EQ(sink.connections[0].packets[0], 3u);
}

// A copy of the ring past its end and round to its start (1024 entries, 16 lingering at most)
// holds the lingering connections, oldest first.
TEST_F(LimitTest, ACopyOfTheRingRunsRoundItsEnd) {
    constexpr std::uint16_t closed = 1030;
    for (std::uint16_t i = 0; i < closed; ++i) {
        open(endpoint(1, 20000 + i));
        close(endpoint(1, 20000 + i));
    }
    ConnectionTracker::LingeringCopy copy;
    tracker.copy_lingering(copy);
    std::vector<std::uint16_t> ports;
    copy.for_each([&](const Connection& c) { ports.push_back(c.endpoint[0].port); });
    ASSERT_EQ(ports.size(), 16u);
    for (std::uint16_t i = 0; i < 16; ++i) EXPECT_EQ(ports[i], 20000 + closed - 16 + i);
}

// A connection of over 71 minutes does not fit the lingering form's 32-bit times: it lingers
// wide, and its late packet and last time come out whole.
TEST_F(LimitTest, ALongConnectionLingersWhole) {
    const Endpoint from = endpoint(1, 43000);
    open(from);
    now += 5000 * second;
    close(from);
    send(tcp(from, server, ack, 5));  // the closing ACK, late
    const Micros last = now;
    EXPECT_EQ(tracker.lingering_connections(), 1u);
    tracker.finish();
    ASSERT_EQ(sink.connections.size(), 1u);
    EXPECT_EQ(sink.connections[0].last_seen, last);
    EXPECT_EQ(sink.connections[0].packets[0], 3u);
    EXPECT_EQ(sink.connections[0].state(), ConnectionState::closed);
}

}  // namespace
}  // namespace ephemera
