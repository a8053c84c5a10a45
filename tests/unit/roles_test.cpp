// Who is the client: one test per rule, strongest first.
#include <gtest/gtest.h>

#include "test_endpoints.hpp"

#include <vector>

#include "ephemera/analysis/roles.hpp"

namespace ephemera {
namespace {

using test::endpoint;

// A record whose first packet came from `first`.
ConnectionRecord record(const Endpoint& first, const Endpoint& second,
                        Protocol protocol = Protocol::tcp) {
    ConnectionRecord result;
    result.connection.protocol = protocol;
    result.connection.endpoint = {first, second};
    return result;
}

ConnectionRecords resolve(ConnectionRecords records) {
    for (ConnectionRecord& r : records) assign_role_from_handshake(r);
    assign_roles_by_heuristics(records);
    return records;
}

TEST(Roles, SynSenderIsTheClient) {
    ConnectionRecord r = record(endpoint(1, 40000), endpoint(2, 55555));
    r.connection.syn_side = 0;
    auto records = resolve({r});
    EXPECT_EQ(records[0].client(), endpoint(1, 40000));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn);
}

TEST(Roles, SynAckSenderIsTheServer) {
    // Capture began between SYN and SYN-ACK: the first packet is the server's.
    ConnectionRecord r = record(endpoint(2, 55555), endpoint(1, 40000));
    r.connection.syn_ack_side = 0;
    auto records = resolve({r});
    EXPECT_EQ(records[0].server(), endpoint(2, 55555));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn_ack);
}

TEST(Roles, HandshakeEvidenceThatCameLateStillDecides) {
    // Logged mid-stream, then a late SYN-ACK updated the record (the tracker's linger): the
    // heuristics look at the handshake again instead of guessing from the ports.
    ConnectionRecord r = record(endpoint(1, 40000), endpoint(2, 55555));
    ASSERT_FALSE(assign_role_from_handshake(r));
    r.connection.syn_ack_side = 1;
    ConnectionRecords records{r};
    assign_roles_by_heuristics(records);
    EXPECT_EQ(records[0].server(), endpoint(2, 55555));
    EXPECT_EQ(records[0].role_reason, RoleReason::syn_ack);
    EXPECT_TRUE(records[0].role_from_handshake);
}

TEST(Roles, FanInFindsAServiceInsideTheDynamicRange) {
    // Mid-stream, the server spoke first on every connection; port-only rules would pick 40000+.
    ConnectionRecords records;
    for (std::uint16_t port = 40000; port < 40004; ++port) {
        records.push_back(record(endpoint(2, 55555), endpoint(1, port)));
    }
    for (const ConnectionRecord& r : resolve(records)) {
        EXPECT_EQ(r.server(), endpoint(2, 55555));
        EXPECT_EQ(r.role_reason, RoleReason::fan_in);
    }
}

TEST(Roles, ClientPortReusedAcrossDestinationsIsNotFanIn) {
    // Linux reuses one source port towards different destinations: many peer addresses, but one
    // peer port, so the client port does not look like a service.
    ConnectionRecords records = {record(endpoint(1, 33000), endpoint(2, 443)),
                                 record(endpoint(1, 33000), endpoint(3, 443)),
                                 record(endpoint(1, 33000), endpoint(4, 443))};
    for (const ConnectionRecord& r : resolve(records)) {
        EXPECT_EQ(r.client(), endpoint(1, 33000));
        EXPECT_EQ(r.role_reason, RoleReason::service_port);
    }
}

TEST(Roles, HandshakeElsewhereMarksAKnownService) {
    ConnectionRecord with_handshake = record(endpoint(1, 40000), endpoint(2, 55555));
    with_handshake.connection.syn_side = 0;
    ConnectionRecord mid_stream = record(endpoint(2, 55555), endpoint(3, 41000));
    auto records = resolve({with_handshake, mid_stream});
    EXPECT_EQ(records[1].server(), endpoint(2, 55555));
    EXPECT_EQ(records[1].role_reason, RoleReason::known_service);
}

TEST(Roles, HostsThatAreClientsAndServersAtOnce) {
    // Host 1 is a client of 2:8080 and the server of 9090, all mid-stream.
    ConnectionRecords records;
    for (std::uint16_t port = 45000; port < 45003; ++port) {
        records.push_back(record(endpoint(2, 8080), endpoint(1, port)));
        records.push_back(record(endpoint(1, 9090), endpoint(2, port + 100)));
    }
    records = resolve(records);
    for (const ConnectionRecord& r : records) {
        const bool to_web = r.connection.endpoint[0].port == 8080;
        EXPECT_EQ(r.server(), to_web ? endpoint(2, 8080) : endpoint(1, 9090));
    }
}

TEST(Roles, ServicePortFacesAnEphemeralOne) {
    auto records = resolve({record(endpoint(2, 443), endpoint(1, 45000)),
                            record(endpoint(2, 45001), endpoint(1, 5432))});
    EXPECT_EQ(records[0].server(), endpoint(2, 443));
    EXPECT_EQ(records[1].server(), endpoint(1, 5432));
    EXPECT_EQ(records[0].role_reason, RoleReason::service_port);
}

TEST(Roles, LowerPortIsTheLastResortForTcp) {
    auto records = resolve({record(endpoint(1, 50000), endpoint(2, 40000))});
    EXPECT_EQ(records[0].server(), endpoint(2, 40000));
    EXPECT_EQ(records[0].role_reason, RoleReason::lower_port);
}

TEST(Roles, FirstSenderIsTheLastResortForUdp) {
    auto records = resolve({record(endpoint(1, 50000), endpoint(2, 40000), Protocol::udp)});
    EXPECT_EQ(records[0].client(), endpoint(1, 50000));
    EXPECT_EQ(records[0].role_reason, RoleReason::first_sender);
}

}  // namespace
}  // namespace ephemera
