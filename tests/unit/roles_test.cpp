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
        EXPECT_EQ(records[i].connection.protocol, connections[i].protocol);
    }
    EXPECT_EQ(records[0].host[0], records[1].host[1]) << "198.18.0.1 numbered twice";

    // A copy into another set (a live view's window) is numbered there: only its own hosts.
    ConnectionRecords window;
    window.add(records, records[2]);
    EXPECT_EQ(window.host_count(), 2u);
    EXPECT_EQ(window.endpoint(window[0], 0), endpoint(1, 40004));
    EXPECT_EQ(window.endpoint(window[0], 1), endpoint(3, 53));
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
    r.connection.syn_ack_side = 1;
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
        if (r.connection.protocol == Protocol::tcp) {
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
