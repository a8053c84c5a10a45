// The duplicate filter: the same packet again within a millisecond is one packet; a
// retransmission, a dup-ACK with a new IP ID, or the reverse direction is not.
#include <gtest/gtest.h>

#include "ephemera/track/duplicates.hpp"
#include "ephemera/track/tracker.hpp"
#include "test_endpoints.hpp"

namespace ephemera {
namespace {

using test::endpoint;

bool seen_twice(DuplicateFilter& filter, Micros time, const DecodedPacket& packet) {
    return filter.is_duplicate(time, packet, hash_flow_of(packet));
}

DecodedPacket ack_packet(std::uint16_t ip_id) {
    DecodedPacket packet;
    packet.source = endpoint(1, 40000);
    packet.destination = endpoint(2, 8080);
    packet.tcp_flags = tcp_flag::ack;
    packet.sequence = 100;
    packet.acknowledgment = 200;
    packet.ip_id = ip_id;
    return packet;
}

TEST(DuplicateFilter, SamePacketWithinAMillisecondIsADuplicate) {
    DuplicateFilter filter;
    const Micros t = 1'700'000'000'000'000;
    EXPECT_FALSE(seen_twice(filter, t, ack_packet(7)));
    EXPECT_TRUE(seen_twice(filter, t + 20, ack_packet(7)));
    EXPECT_TRUE(seen_twice(filter, t + 1000, ack_packet(7)));
}

TEST(DuplicateFilter, RetransmissionsAndOtherPacketsAreNot) {
    DuplicateFilter filter;
    const Micros t = 1'700'000'000'000'000;
    EXPECT_FALSE(seen_twice(filter, t, ack_packet(7)));
    EXPECT_FALSE(seen_twice(filter, t + 200'000, ack_packet(7))) << "a retransmission, 200 ms on";
    EXPECT_FALSE(seen_twice(filter, t + 200'010, ack_packet(8))) << "a dup-ACK: new IP ID";
    DecodedPacket reverse = ack_packet(7);
    std::swap(reverse.source, reverse.destination);
    EXPECT_FALSE(seen_twice(filter, t + 200'020, reverse));
}

// A bridge's copy can trail the original by many packets of other flows: still one packet.
TEST(DuplicateFilter, ACopyFarBehindOtherPacketsIsStillADuplicate) {
    DuplicateFilter filter;
    const Micros t = 1'700'000'000'000'000;
    EXPECT_FALSE(seen_twice(filter, t, ack_packet(7)));
    for (std::uint16_t other = 0; other < 300; ++other) {
        DecodedPacket packet = ack_packet(7);
        packet.source = endpoint(3, static_cast<std::uint16_t>(20000 + other));
        EXPECT_FALSE(seen_twice(filter, t + 1 + other, packet));
    }
    EXPECT_TRUE(seen_twice(filter, t + 400, ack_packet(7)));
}

}  // namespace
}  // namespace ephemera
