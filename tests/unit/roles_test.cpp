// Who is the client: one test per rule, strongest first.
#include <gtest/gtest.h>

#include "test_endpoints.hpp"

#include <vector>

#include "ephemera/analysis/roles.hpp"
#include "ephemera/analysis/service_ports.hpp"

namespace ephemera {
namespace {

using test::endpoint;

// A connection whose first packet came from `first`.
Connection record(const Endpoint& first, const Endpoint& second,
                  Protocol protocol = Protocol::tcp) {
    Connection result;
    result.protocol = protocol;
    result.endpoint = {first, second};
    return result;
}

// The connections logged as the log does, then given their roles as the report does.
ConnectionRecords resolve(const std::vector<Connection>& connections) {
    ConnectionRecords records;
    for (const Connection& connection : connections) {
        assign_role_from_handshake(records.add(connection));
    }
    assign_roles_by_heuristics(records);
    return records;
}

// The log keeps each address once and each record names its hosts by number: what comes back
// out is what went in.
TEST(Records, NumberEachHostOnceAndGiveTheEndpointsBack) {
    ConnectionRecords records;
    const std::vector<Connection> connections = {
        record(endpoint(1, 40000), endpoint(2, 443)),
        record(endpoint(2, 443), endpoint(1, 40002)),
        record(endpoint(1, 40004), endpoint(3, 53), Protocol::udp),
    };
    for (const Connection& connection : connections) records.add(connection);
    EXPECT_EQ(records.host_count(), 3u);
    for (std::size_t i = 0; i < connections.size(); ++i) {
        EXPECT_EQ(records.endpoint(records[i], 0), connections[i].endpoint[0]);
        EXPECT_EQ(records.endpoint(records[i], 1), connections[i].endpoint[1]);
        EXPECT_EQ(records[i].protocol, connections[i].protocol);
    }
    EXPECT_EQ(records[0].host[0], records[1].host[1]) << "198.18.0.1 numbered twice";

    // A copy into another set (a live view's window) is numbered there: only its own hosts.
    ConnectionRecords window;
    window.add(records, records[2]);
    EXPECT_EQ(window.host_count(), 2u);
    EXPECT_EQ(window.endpoint(window[0], 0), endpoint(1, 40004));
    EXPECT_EQ(window.endpoint(window[0], 1), endpoint(3, 53));
}

// Every field of a record's activity as it went in.
void expect_same_activity(const ConnectionActivity& got, const ConnectionActivity& expected) {
    EXPECT_EQ(got.first_seen, expected.first_seen);
    EXPECT_EQ(got.last_seen, expected.last_seen);
    EXPECT_EQ(got.close_time, expected.close_time);
    EXPECT_EQ(got.packets, expected.packets);
    EXPECT_EQ(got.payload_bytes, expected.payload_bytes);
    EXPECT_EQ(got.syn_sequence, expected.syn_sequence);
    EXPECT_EQ(got.syn_retransmissions, expected.syn_retransmissions);
    EXPECT_EQ(got.protocol, expected.protocol);
    EXPECT_EQ(got.syn_ttl, expected.syn_ttl);
    EXPECT_EQ(got.syn_option_layout, expected.syn_option_layout);
    EXPECT_EQ(got.syn_side, expected.syn_side);
    EXPECT_EQ(got.syn_ack_side, expected.syn_ack_side);
    EXPECT_EQ(got.first_fin_side, expected.first_fin_side);
    EXPECT_EQ(got.rst_side, expected.rst_side);
    EXPECT_EQ(got.end_reason, expected.end_reason);
    EXPECT_EQ(got.fin(0), expected.fin(0));
    EXPECT_EQ(got.fin(1), expected.fin(1));
    EXPECT_EQ(got.stale_ack, expected.stale_ack);
    EXPECT_EQ(got.time_wait_collision, expected.time_wait_collision);
    EXPECT_EQ(got.state(), expected.state());
}

// A record holds times and counts in 32 bits; what does not fit (a connection open for hours,
// 4 GiB one way, a clock that went back) is kept whole beside it, through every way records are
// dropped, copied and rewritten.
TEST(Records, KeepValuesTooWideForThemWhole) {
    constexpr Micros hour = 3'600'000'000;
    constexpr Micros start = 1'700'000'000'000'000;
    Connection wide = record(endpoint(1, 40000), endpoint(2, 443));
    wide.first_seen = start;
    wide.last_seen = start + 5 * hour;
    wide.close_time = start + 5 * hour - 1;
    wide.packets = {5'000'000'000, 1};
    wide.payload_bytes = {0, 6'000'000'000};
    wide.syn_sequence = 0xfedcba98;
    wide.syn_retransmissions = 3;
    wide.syn_side = 0;
    wide.syn_ack_side = 1;
    wide.first_fin_side = 1;
    wide.set_fin(0);
    wide.set_fin(1);
    wide.syn_ttl = 63;
    wide.syn_option_layout = 0x5a;
    wide.end_reason = EndReason::closed;
    Connection narrow = record(endpoint(1, 40002), endpoint(2, 443));
    narrow.first_seen = start + 1;
    narrow.last_seen = start + 1 + hour;  // 3.6e9 us fits 32 bits
    narrow.close_time = narrow.last_seen;
    narrow.packets = {4'294'967'295, 0};
    narrow.rst_side = 1;
    narrow.stale_ack = narrow.time_wait_collision = true;
    Connection backwards = record(endpoint(1, 40004), endpoint(3, 53), Protocol::udp);
    backwards.first_seen = start + 2;
    backwards.last_seen = start + 1;
    backwards.end_reason = EndReason::idle;
    const std::vector<Connection> connections = {wide, narrow, backwards, narrow};

    ConnectionRecords records;
    for (const Connection& connection : connections) records.add(connection);
    const std::vector<bool> expect_wide = {true, false, true, false};
    for (std::size_t i = 0; i < connections.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(records[i].wide, expect_wide[i]);
        expect_same_activity(records.activity(records[i]), connections[i]);
        EXPECT_EQ(records.last_seen(records[i]), connections[i].last_seen);
        EXPECT_EQ(records.close_time(records[i]), connections[i].close_time);
        EXPECT_EQ(records[i].state(), connections[i].state());
    }

    // A live view's window copies the wide ones with theirs.
    ConnectionRecords window;
    window.add_from(records, 0, [](const ConnectionRecord&) { return true; });
    window.add(records, records[0]);
    for (std::size_t i = 0; i <= connections.size(); ++i) {
        SCOPED_TRACE(i);
        expect_same_activity(window.activity(window[i]), connections[i % connections.size()]);
    }

    // The oldest dropped (a bounded log): the rest keep their own values.
    records.drop_oldest(1);
    ASSERT_EQ(records.size(), 3u);
    for (std::size_t i = 0; i < records.size(); ++i) {
        SCOPED_TRACE(i);
        expect_same_activity(records.activity(records[i]), connections[i + 1]);
    }
}

// Addresses that differ only in family are two hosts (an IPv4 address and its IPv4-mapped IPv6
// form).
TEST(Records, KeepAnAddressApartFromItsMappedForm) {
    Address v4;
    ASSERT_TRUE(parse_address("198.18.0.1", v4));
    Address mapped;
    ASSERT_TRUE(parse_address("::ffff:198.18.0.1", mapped));
    ConnectionRecords records;
    records.add(record({v4, 40000}, endpoint(2, 443)));
    records.add(record({mapped, 40000}, endpoint(2, 443)));
    EXPECT_EQ(records.host_count(), 3u);
    EXPECT_EQ(records.endpoint(records[0], 0).address, v4);
    EXPECT_EQ(records.endpoint(records[1], 0).address, mapped);
}

TEST(Roles, SynSenderIsTheClient) {
    Connection r = record(endpoint(1, 40000), endpoint(2, 55555));
    r.syn_side = 0;
    auto records = resolve({r});
    EXPECT_EQ(records.client(records[0]), endpoint(1, 40000));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn);
}

TEST(Roles, SynAckSenderIsTheServer) {
    // Capture began between SYN and SYN-ACK: the first packet is the server's.
    Connection r = record(endpoint(2, 55555), endpoint(1, 40000));
    r.syn_ack_side = 0;
    auto records = resolve({r});
    EXPECT_EQ(records.server(records[0]), endpoint(2, 55555));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn_ack);
}

TEST(Roles, HandshakeEvidenceThatCameLateStillDecides) {
    // Logged mid-stream, then a late SYN-ACK updated the record (the tracker's linger): the
    // heuristics look at the handshake again instead of guessing from the ports.
    ConnectionRecords records;
    ConnectionRecord& r = records.add(record(endpoint(1, 40000), endpoint(2, 55555)));
    ASSERT_FALSE(assign_role_from_handshake(r));
    r.syn_ack_side = 1;
    assign_roles_by_heuristics(records);
    EXPECT_EQ(records.server(records[0]), endpoint(2, 55555));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn_ack);
    EXPECT_TRUE(records[0].role_from_handshake);
}

TEST(Roles, FanInFindsAServiceInsideTheDynamicRange) {
    // Mid-stream, the server spoke first on every connection; port-only rules would pick 40000+.
    std::vector<Connection> connections;
    for (std::uint16_t port = 40000; port < 40004; ++port) {
        connections.push_back(record(endpoint(2, 55555), endpoint(1, port)));
    }
    const ConnectionRecords records = resolve(connections);
    for (const ConnectionRecord& r : records) {
        EXPECT_EQ(records.server(r), endpoint(2, 55555));
        EXPECT_EQ(r.role_reason, RoleReason::fan_in);
    }
}

TEST(Roles, UdpEvidenceComesFromEveryFlowBetweenDecidedTcp) {
    // TCP connections with their handshakes between the UDP flows: the flows alone are the
    // evidence for UDP, each found again in its place, whichever side spoke first.
    std::vector<Connection> connections;
    for (std::uint16_t i = 0; i < 4; ++i) {
        Connection web = record(endpoint(1, 30000 + i), endpoint(3, 443));
        web.syn_side = 0;
        connections.push_back(web);
        connections.push_back(record(endpoint(2, 5353), endpoint(1, 40000 + i), Protocol::udp));
        connections.push_back(record(endpoint(4, 41000 + i), endpoint(5, 53), Protocol::udp));
    }
    const ConnectionRecords records = resolve(connections);
    for (const ConnectionRecord& r : records) {
        if (r.protocol == Protocol::tcp) {
            EXPECT_EQ(records.server(r), endpoint(3, 443));
            EXPECT_EQ(r.role_reason, RoleReason::syn);
            continue;
        }
        const bool mdns = r.port[0] == 5353;
        EXPECT_EQ(records.server(r), mdns ? endpoint(2, 5353) : endpoint(5, 53));
        EXPECT_EQ(r.role_reason, RoleReason::registered_service);
    }
}

TEST(Roles, ClientPortReusedAcrossDestinationsIsNotFanIn) {
    // Linux reuses one source port towards different destinations: many peer addresses, but one
    // peer port, so the client port does not look like a service.
    const ConnectionRecords records = resolve({record(endpoint(1, 33000), endpoint(2, 443)),
                                               record(endpoint(1, 33000), endpoint(3, 443)),
                                               record(endpoint(1, 33000), endpoint(4, 443))});
    for (const ConnectionRecord& r : records) {
        EXPECT_EQ(records.client(r), endpoint(1, 33000));
        EXPECT_EQ(r.role_reason, RoleReason::registered_service);
    }
}

TEST(Roles, HandshakeElsewhereMarksAKnownService) {
    Connection with_handshake = record(endpoint(1, 40000), endpoint(2, 55555));
    with_handshake.syn_side = 0;
    const Connection mid_stream = record(endpoint(2, 55555), endpoint(3, 41000));
    auto records = resolve({with_handshake, mid_stream});
    EXPECT_EQ(records.server(records[1]), endpoint(2, 55555));
    EXPECT_EQ(records[1].role_reason, RoleReason::known_service);
}

TEST(Roles, HostsThatAreClientsAndServersAtOnce) {
    // Host 1 is a client of 2:8080 and the server of 9090, all mid-stream.
    std::vector<Connection> connections;
    for (std::uint16_t port = 45000; port < 45003; ++port) {
        connections.push_back(record(endpoint(2, 8080), endpoint(1, port)));
        connections.push_back(record(endpoint(1, 9090), endpoint(2, port + 100)));
    }
    const ConnectionRecords records = resolve(connections);
    for (const ConnectionRecord& r : records) {
        const bool to_web = r.port[0] == 8080;
        EXPECT_EQ(records.server(r), to_web ? endpoint(2, 8080) : endpoint(1, 9090));
    }
}

TEST(Roles, ServicePortFacesAnEphemeralOne) {
    // Ports no service in the table has: a well-known one, and a registered one below 32768.
    auto records = resolve({record(endpoint(2, 444), endpoint(1, 45000)),
                            record(endpoint(2, 45001), endpoint(1, 5433))});
    EXPECT_EQ(records.server(records[0]), endpoint(2, 444));
    EXPECT_EQ(records.server(records[1]), endpoint(1, 5433));
    EXPECT_EQ(records[0].role_reason, RoleReason::service_port);
    EXPECT_EQ(records[1].role_reason, RoleReason::service_port);
}

// One UDP port talking to several STUN servers, which answer from 3478 and from their alternate
// port 3479 (RFC 5780): the client port has two peer ports and each server one, which fan-in
// would read backwards. The registered service ports outrank it.
TEST(Roles, RegisteredServicePortOutranksFanIn) {
    std::vector<Connection> connections;
    for (std::uint8_t server = 2; server < 5; ++server) {
        connections.push_back(record(endpoint(1, 50123), endpoint(server, 3478), Protocol::udp));
        connections.push_back(record(endpoint(server, 3479), endpoint(1, 50123), Protocol::udp));
    }
    // Teredo, syslog, SNMP and NTP from an ephemeral port, each server speaking first.
    for (const std::uint16_t port : {3544, 514, 161, 123}) {
        connections.push_back(record(endpoint(6, port), endpoint(1, 40500), Protocol::udp));
        connections.push_back(record(endpoint(6, port), endpoint(1, 40502), Protocol::udp));
    }
    const ConnectionRecords records = resolve(connections);
    for (const ConnectionRecord& r : records) {
        EXPECT_EQ(records.client(r).address, endpoint(1, 0).address)
            << records.server(r).port << " " << records.client(r).port;
        EXPECT_EQ(r.role_reason, RoleReason::registered_service);
    }
}

// DHCP: the client's 68 towards the server's 67, whoever sent first; DHCPv6 546 -> 547. NTP
// between two servers (123 both ways) is not decided by the table.
TEST(Roles, FixedClientPortsAndSymmetricServices) {
    const ConnectionRecords records =
        resolve({record(endpoint(2, 67), endpoint(1, 68), Protocol::udp),
                 record(endpoint(1, 68), endpoint(2, 67), Protocol::udp),
                 record(endpoint(2, 547), endpoint(1, 546), Protocol::udp),
                 record(endpoint(3, 123), endpoint(4, 123), Protocol::udp)});
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(records.client(records[i]).address, endpoint(1, 0).address) << i;
        EXPECT_EQ(records[i].role_reason, RoleReason::registered_service) << i;
    }
    EXPECT_NE(records[3].role_reason, RoleReason::registered_service);
    EXPECT_EQ(records.client(records[3]), endpoint(3, 123));  // the first sender
}

// The table is data: sorted, one entry per port, and every entry names its protocols.
TEST(Roles, RegisteredServiceTableIsWellFormed) {
    const auto services = registered_services();
    ASSERT_GE(services.size(), 50u);
    for (std::size_t i = 0; i < services.size(); ++i) {
        EXPECT_TRUE(services[i].tcp || services[i].udp) << services[i].name;
        if (i > 0) {
            EXPECT_LT(services[i - 1].port, services[i].port) << services[i].name;
        }
        EXPECT_EQ(find_registered_service(services[i].tcp ? Protocol::tcp : Protocol::udp,
                                          services[i].port),
                  &services[i]);
    }
    EXPECT_EQ(find_registered_service(Protocol::tcp, 123), nullptr);  // NTP is UDP only
}

TEST(Roles, LowerPortIsTheLastResortForTcp) {
    auto records = resolve({record(endpoint(1, 50000), endpoint(2, 40000))});
    EXPECT_EQ(records.server(records[0]), endpoint(2, 40000));
    EXPECT_EQ(records[0].role_reason, RoleReason::lower_port);
}

TEST(Roles, FirstSenderIsTheLastResortForUdp) {
    auto records = resolve({record(endpoint(1, 50000), endpoint(2, 40000), Protocol::udp)});
    EXPECT_EQ(records.client(records[0]), endpoint(1, 50000));
    EXPECT_EQ(records[0].role_reason, RoleReason::first_sender);
}

}  // namespace
}  // namespace ephemera
