// Decoder tests. Frames are real ones from pcaps/ (tcpdump -xx), or built from them byte by byte
// where a variant (tags, options, extension headers) is the point of the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "ephemera/decode/decode.hpp"

namespace ephemera {
namespace {

using Frame = std::vector<std::uint8_t>;

// pcaps/tcp-ipv4.pcap: 198.18.0.1.39348 > 198.18.0.2.8080, SYN, TS val 0xb0803b24.
const Frame ethernet_header = {0x7a, 0x82, 0x7c, 0x8d, 0x95, 0x83, 0xae,
                               0x4a, 0x1e, 0x80, 0x7a, 0x63, 0x08, 0x00};
const Frame ipv4_tcp_syn = {0x45, 0x00, 0x00, 0x3c, 0x02, 0xd0, 0x40, 0x00, 0x40, 0x06, 0xab, 0xc4,
                            0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x99, 0xb4, 0x1f, 0x90,
                            0x4b, 0xde, 0x7d, 0x48, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
                            0x8c, 0x56, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
                            0xb0, 0x80, 0x3b, 0x24, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a};

// pcaps/any-sll.pcap (Linux cooked v1): 2001:db8::1.44560 > 2001:db8::2.8080, SYN.
const Frame sll_ipv6_tcp_syn = {
    0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0xd6, 0x71, 0x0f, 0x58, 0x58, 0x03, 0x00, 0x00, 0x86, 0xdd,
    0x60, 0x0c, 0xdc, 0x27, 0x00, 0x28, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xae, 0x10, 0x1f, 0x90, 0x0d, 0xdc, 0xc0, 0x89,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd, 0x20, 0x5b, 0xa3, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0,
    0x04, 0x02, 0x08, 0x0a, 0xa2, 0x07, 0x6e, 0x13, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a};

// pcaps/any-sll2.pcap (Linux cooked v2): 198.18.0.1.36511 > 198.18.0.2.5300, UDP, 6 bytes.
const Frame sll2_ipv4_udp = {0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x04,
                             0x06, 0x0e, 0x14, 0xff, 0x56, 0x47, 0x43, 0x00, 0x00, 0x45, 0x00,
                             0x00, 0x22, 0x1b, 0x82, 0x40, 0x00, 0x40, 0x11, 0x93, 0x21, 0xc6,
                             0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x8e, 0x9f, 0x14, 0xb4,
                             0x00, 0x0e, 0x8c, 0x47, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a};

Frame join(std::initializer_list<Frame> parts) {
    Frame frame;
    for (const Frame& part : parts) frame.insert(frame.end(), part.begin(), part.end());
    return frame;
}

// Ethernet header whose ethertype is replaced by the given tags and then `inner`.
Frame ethernet_with_tags(std::initializer_list<std::pair<std::uint16_t, std::uint16_t>> tags,
                         std::uint16_t inner) {
    Frame frame(ethernet_header.begin(), ethernet_header.begin() + 12);
    for (const auto& [tpid, vid] : tags) {
        frame.insert(frame.end(),
                     {static_cast<std::uint8_t>(tpid >> 8), static_cast<std::uint8_t>(tpid & 0xff),
                      static_cast<std::uint8_t>(vid >> 8), static_cast<std::uint8_t>(vid & 0xff)});
    }
    frame.insert(frame.end(),
                 {static_cast<std::uint8_t>(inner >> 8), static_cast<std::uint8_t>(inner & 0xff)});
    return frame;
}

// The IPv6 SYN of sll_ipv6_tcp_syn without its cooked header.
Frame ipv6_tcp_syn() {
    return Frame(sll_ipv6_tcp_syn.begin() + 16, sll_ipv6_tcp_syn.end());
}

// Decodes from a heap copy of exactly the frame's size, so AddressSanitizer sees any overread.
DecodeResult decode_exact(LinkType link, const Frame& frame) {
    auto copy = std::make_unique<std::uint8_t[]>(frame.size());
    std::copy(frame.begin(), frame.end(), copy.get());
    return decode_packet(link, {copy.get(), frame.size()});
}

Address ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    Address address;
    address.family = Family::ipv4;
    address.bytes[0] = a;
    address.bytes[1] = b;
    address.bytes[2] = c;
    address.bytes[3] = d;
    return address;
}

void expect_ipv4_syn(const DecodeResult& result) {
    ASSERT_EQ(result.status, DecodeStatus::ok) << reason_name(result.status);
    const DecodedPacket& packet = result.packet;
    EXPECT_EQ(packet.protocol, Protocol::tcp);
    EXPECT_EQ(packet.source.address, ipv4(198, 18, 0, 1));
    EXPECT_EQ(packet.destination.address, ipv4(198, 18, 0, 2));
    EXPECT_EQ(packet.source.port, 39348);
    EXPECT_EQ(packet.destination.port, 8080);
    EXPECT_EQ(packet.tcp_flags, tcp_flag::syn);
    EXPECT_EQ(packet.sequence, 1272872264u);
    EXPECT_EQ(packet.ttl, 64);
    EXPECT_EQ(packet.timestamp_value, 0xb0803b24u);
    // Linux's layout: MSS, SACK-permitted, timestamp, NOP, window scale.
    const std::vector<std::uint8_t> linux_options = {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0,
                                                     0, 0, 0, 0,    0, 0, 1, 3,  3, 7};
    EXPECT_EQ(packet.syn_option_layout, tcp_option_layout(linux_options));
    EXPECT_EQ(packet.payload_length, 0u);
}

// Systems differ in the order of their SYN options; one host's SYNs keep theirs whatever the
// values, and whether TCP Fast Open's cookie rides along.
TEST(TcpOptionLayout, SeparatesSystemsNotConnections) {
    const std::vector<std::uint8_t> linux_syn = {2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2,
                                                 3, 4, 0, 0,    0, 0, 1, 3,  3, 7};
    const std::vector<std::uint8_t> linux_other_values = {2, 4, 0x05, 0x8c, 4, 2, 8, 10, 9, 9,
                                                          9, 9, 0,    0,    0, 0, 1, 3,  3, 9};
    const std::vector<std::uint8_t> linux_with_fast_open = {2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2,  3,
                                                            4, 0, 0, 0,    0, 1, 3, 3,  7, 34, 10,
                                                            1, 2, 3, 4,    5, 6, 7, 8,  1, 1};
    const std::vector<std::uint8_t> windows_syn = {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
    const std::vector<std::uint8_t> macos_syn = {2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10,
                                                 1, 2, 3, 4,    0, 0, 0, 0, 4, 2, 0, 0};
    const std::uint8_t linux_layout = tcp_option_layout(linux_syn);
    EXPECT_NE(linux_layout, 0);
    EXPECT_EQ(tcp_option_layout(linux_other_values), linux_layout);
    // Fast Open's option is left out, and so is the padding after it.
    EXPECT_EQ(tcp_option_layout(linux_with_fast_open), linux_layout);
    EXPECT_NE(tcp_option_layout(windows_syn), linux_layout);
    EXPECT_NE(tcp_option_layout(macos_syn), linux_layout);
    EXPECT_NE(tcp_option_layout(macos_syn), tcp_option_layout(windows_syn));
    EXPECT_EQ(tcp_option_layout({}), 0);
    // A length running past the options ends the walk without reading past them.
    const std::vector<std::uint8_t> cut = {2, 4, 5, 0xb4, 8, 40};
    EXPECT_EQ(tcp_option_layout(cut), tcp_option_layout(std::vector<std::uint8_t>{2, 4, 5, 0xb4}));
}

TEST(DecodeEthernet, Ipv4TcpSyn) {
    expect_ipv4_syn(decode_exact(LinkType::ethernet, join({ethernet_header, ipv4_tcp_syn})));
}

TEST(DecodeEthernet, PaddingAfterTheDatagramIsNotPayload) {
    const Frame padded = join({ethernet_header, ipv4_tcp_syn, Frame(6, 0)});
    expect_ipv4_syn(decode_exact(LinkType::ethernet, padded));
}

TEST(DecodeEthernet, SingleVlanTag) {
    const Frame frame = join({ethernet_with_tags({{0x8100, 100}}, 0x0800), ipv4_tcp_syn});
    expect_ipv4_syn(decode_exact(LinkType::ethernet, frame));
}

TEST(DecodeEthernet, StackedQinQTags) {
    for (std::uint16_t outer : {std::uint16_t{0x88a8}, std::uint16_t{0x9100}}) {
        const Frame frame =
            join({ethernet_with_tags({{outer, 300}, {0x8100, 400}}, 0x0800), ipv4_tcp_syn});
        expect_ipv4_syn(decode_exact(LinkType::ethernet, frame));
    }
}

TEST(DecodeEthernet, ArpIsNotIp) {
    const Frame arp = join({ethernet_with_tags({}, 0x0806), Frame(28, 0)});
    EXPECT_EQ(decode_exact(LinkType::ethernet, arp).status, DecodeStatus::non_ip);
}

TEST(DecodeEthernet, Ipv6TcpSyn) {
    const Frame frame = join({ethernet_with_tags({}, 0x86dd), ipv6_tcp_syn()});
    const DecodeResult result = decode_exact(LinkType::ethernet, frame);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.packet.source.address.family, Family::ipv6);
    EXPECT_EQ(result.packet.source.port, 44560);
    EXPECT_EQ(result.packet.destination.port, 8080);
}

TEST(DecodeCooked, LinuxSllV1Ipv6) {
    const DecodeResult result = decode_exact(LinkType::linux_sll, sll_ipv6_tcp_syn);
    ASSERT_TRUE(result.ok()) << reason_name(result.status);
    EXPECT_EQ(result.packet.source.address.bytes[15], 1);
    EXPECT_EQ(result.packet.destination.address.bytes[15], 2);
    EXPECT_EQ(result.packet.sequence, 232571017u);
    EXPECT_EQ(result.packet.tcp_flags, tcp_flag::syn);
}

TEST(DecodeCooked, LinuxSllV2Udp) {
    const DecodeResult result = decode_exact(LinkType::linux_sll2, sll2_ipv4_udp);
    ASSERT_TRUE(result.ok()) << reason_name(result.status);
    EXPECT_EQ(result.packet.protocol, Protocol::udp);
    EXPECT_EQ(result.packet.source.port, 36511);
    EXPECT_EQ(result.packet.destination.port, 5300);
    EXPECT_EQ(result.packet.payload_length, 6u);
}

TEST(DecodeRaw, Ipv4AndIpv6ByVersionNibble) {
    for (LinkType link : {LinkType::raw, LinkType::raw_linktype, LinkType::raw_openbsd}) {
        expect_ipv4_syn(decode_exact(link, ipv4_tcp_syn));
        EXPECT_TRUE(decode_exact(link, ipv6_tcp_syn()).ok());
    }
    expect_ipv4_syn(decode_exact(LinkType::ipv4, ipv4_tcp_syn));
    EXPECT_TRUE(decode_exact(LinkType::ipv6, ipv6_tcp_syn()).ok());
    EXPECT_EQ(decode_exact(LinkType::ipv4, ipv6_tcp_syn()).status, DecodeStatus::bad_ip_header);
}

TEST(DecodeLoopback, FamilyInEitherByteOrder) {
    // DLT_NULL from a little-endian machine: AF_INET = 2 in host order.
    expect_ipv4_syn(decode_exact(LinkType::null, join({{2, 0, 0, 0}, ipv4_tcp_syn})));
    // DLT_LOOP: network order; AF_INET6 is 30 on macOS, 24 on OpenBSD.
    EXPECT_TRUE(decode_exact(LinkType::loop, join({{0, 0, 0, 30}, ipv6_tcp_syn()})).ok());
    EXPECT_TRUE(decode_exact(LinkType::null, join({{24, 0, 0, 0}, ipv6_tcp_syn()})).ok());
    EXPECT_EQ(decode_exact(LinkType::null, join({{7, 0, 0, 0}, ipv4_tcp_syn})).status,
              DecodeStatus::non_ip);
}

TEST(DecodeIpv4, OptionsMoveTheTransportHeader) {
    // IHL 6: four bytes of options (three NOPs and an end-of-list), total length 64.
    Frame datagram(ipv4_tcp_syn.begin(), ipv4_tcp_syn.begin() + 20);
    datagram[0] = 0x46;
    datagram[3] = 0x40;
    datagram.insert(datagram.end(), {0x01, 0x01, 0x01, 0x00});
    datagram.insert(datagram.end(), ipv4_tcp_syn.begin() + 20, ipv4_tcp_syn.end());
    expect_ipv4_syn(decode_exact(LinkType::raw, datagram));
}

TEST(DecodeIpv4, OnlyTheFirstFragmentCarriesPorts) {
    Frame first = ipv4_tcp_syn;
    first[6] = 0x20;  // more fragments, offset 0
    first[7] = 0x00;
    EXPECT_TRUE(decode_exact(LinkType::raw, first).ok());
    Frame later = ipv4_tcp_syn;
    later[6] = 0x00;
    later[7] = 0xb9;  // offset 185 * 8
    EXPECT_EQ(decode_exact(LinkType::raw, later).status, DecodeStatus::non_first_fragment);
}

TEST(DecodeIpv4, SnaplenCutKeepsTheLengthFromTheHeader) {
    // The header says 100 bytes of payload follow; the capture kept only the headers.
    Frame cut = ipv4_tcp_syn;
    const std::uint16_t total = static_cast<std::uint16_t>(ipv4_tcp_syn.size() + 100);
    cut[2] = static_cast<std::uint8_t>(total >> 8);
    cut[3] = static_cast<std::uint8_t>(total & 0xff);
    const DecodeResult result = decode_exact(LinkType::raw, cut);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.packet.payload_length, 100u);
}

TEST(DecodeIpv4, IcmpHasNoPorts) {
    Frame icmp = ipv4_tcp_syn;
    icmp[9] = 1;
    EXPECT_EQ(decode_exact(LinkType::raw, icmp).status, DecodeStatus::unsupported_transport);
}

TEST(DecodeIpv4, BadHeaderFields) {
    Frame short_ihl = ipv4_tcp_syn;
    short_ihl[0] = 0x44;
    EXPECT_EQ(decode_exact(LinkType::ipv4, short_ihl).status, DecodeStatus::bad_ip_header);
    Frame short_total = ipv4_tcp_syn;
    short_total[2] = 0;
    short_total[3] = 16;
    EXPECT_EQ(decode_exact(LinkType::ipv4, short_total).status, DecodeStatus::bad_ip_header);
    Frame short_tcp_offset = ipv4_tcp_syn;
    short_tcp_offset[32] = 0x40;  // data offset 4 words
    EXPECT_EQ(decode_exact(LinkType::ipv4, short_tcp_offset).status, DecodeStatus::bad_tcp_header);
}

// IPv6 SYN with a hop-by-hop header (8 bytes) and a fragment header before TCP.
Frame ipv6_with_extensions(std::uint16_t fragment_offset_field) {
    const Frame base = ipv6_tcp_syn();
    Frame datagram(base.begin(), base.begin() + 40);
    const std::uint16_t payload = static_cast<std::uint16_t>(base.size() - 40 + 16);
    datagram[4] = static_cast<std::uint8_t>(payload >> 8);
    datagram[5] = static_cast<std::uint8_t>(payload & 0xff);
    datagram[6] = 0;                                             // next: hop-by-hop
    datagram.insert(datagram.end(), {44, 0, 1, 4, 0, 0, 0, 0});  // next: fragment; PadN
    datagram.insert(datagram.end(),
                    {6, 0, static_cast<std::uint8_t>(fragment_offset_field >> 8),
                     static_cast<std::uint8_t>(fragment_offset_field & 0xff), 0, 0, 0, 1});
    datagram.insert(datagram.end(), base.begin() + 40, base.end());
    return datagram;
}

TEST(DecodeIpv6, ExtensionChainToTcp) {
    const DecodeResult result = decode_exact(LinkType::raw, ipv6_with_extensions(0x0001));
    ASSERT_TRUE(result.ok()) << reason_name(result.status);
    EXPECT_EQ(result.packet.source.port, 44560);
    EXPECT_EQ(result.packet.destination.port, 8080);
    EXPECT_EQ(result.packet.payload_length, 0u);
}

TEST(DecodeIpv6, LaterFragmentIsSkipped) {
    EXPECT_EQ(decode_exact(LinkType::raw, ipv6_with_extensions(0x0101)).status,
              DecodeStatus::non_first_fragment);
}

TEST(DecodeIpv6, MappedIpv4AddressStaysIpv6) {
    Frame datagram = ipv6_tcp_syn();
    const Frame mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1};
    std::copy(mapped.begin(), mapped.end(), datagram.begin() + 8);
    const DecodeResult result = decode_exact(LinkType::raw, datagram);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.packet.source.address.family, Family::ipv6);
    EXPECT_NE(result.packet.source.address, ipv4(198, 18, 0, 1));
}

TEST(DecodeLink, UnknownLinkTypeIsReported) {
    EXPECT_EQ(decode_exact(static_cast<LinkType>(147), ipv4_tcp_syn).status,
              DecodeStatus::unsupported_link);
    EXPECT_FALSE(is_supported_link(147));  // DLT_USER0: whatever its user meant
    EXPECT_TRUE(is_supported_link(276));
}

// Every prefix of every valid frame: decoding never succeeds on a frame cut inside a header it
// needs, names a reason, and (under ASan) never reads a byte past the cut.
TEST(DecodeTruncation, EveryPrefixFailsCleanlyInsideTheHeaders) {
    struct Case {
        LinkType link;
        Frame frame;
        std::size_t headers_end;  // link + IP (+ extensions) + 20 bytes of TCP or 8 of UDP
    };
    const std::vector<Case> cases = {
        {LinkType::ethernet, join({ethernet_header, ipv4_tcp_syn}), 14 + 20 + 20},
        {LinkType::ethernet,
         join({ethernet_with_tags({{0x88a8, 300}, {0x8100, 400}}, 0x0800), ipv4_tcp_syn}),
         22 + 20 + 20},
        {LinkType::linux_sll, sll_ipv6_tcp_syn, 16 + 40 + 20},
        {LinkType::linux_sll2, sll2_ipv4_udp, 20 + 20 + 8},
        {LinkType::raw, ipv6_with_extensions(1), 40 + 16 + 20},
        {LinkType::null, join({{2, 0, 0, 0}, ipv4_tcp_syn}), 4 + 20 + 20},
    };
    for (const Case& c : cases) {
        for (std::size_t length = 0; length <= c.frame.size(); ++length) {
            const Frame prefix(c.frame.begin(), c.frame.begin() + length);
            const DecodeResult result = decode_exact(c.link, prefix);
            if (length < c.headers_end) {
                EXPECT_FALSE(result.ok()) << "length " << length;
                EXPECT_NE(reason_name(result.status), "unknown");
            } else {
                EXPECT_TRUE(result.ok())
                    << "length " << length << " " << reason_name(result.status);
            }
        }
    }
}

TEST(DecodeReasons, EveryStatusHasAName) {
    for (std::size_t status = 0; status < decode_status_count; ++status) {
        EXPECT_NE(reason_name(static_cast<DecodeStatus>(status)), "unknown");
    }
}

}  // namespace
}  // namespace ephemera

namespace ephemera {
namespace {

// Inputs the decoder fuzzer once found (tests/fuzz/regressions/decode_fuzzer-*): the first byte
// picks the link type as in tests/fuzz/decode_fuzzer.cpp. Each must decode or fail cleanly.
TEST(DecodeRegressions, KeptFuzzerInputs) {
    const LinkType links[] = {LinkType::ethernet, LinkType::linux_sll, LinkType::linux_sll2,
                              LinkType::raw,      LinkType::ipv4,      LinkType::ipv6,
                              LinkType::null,     LinkType::loop,      LinkType::raw_openbsd};
    const std::filesystem::path dir =
        std::filesystem::path(EPHEMERA_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().filename().string().rfind("decode_fuzzer-", 0) != 0) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        const Frame input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (input.empty()) continue;
        const DecodeResult result =
            decode_exact(links[input[0] % std::size(links)], Frame(input.begin() + 1, input.end()));
        EXPECT_NE(reason_name(result.status), "unknown") << entry.path();
    }
}

// Tunnels. The outer headers are built here around the real SYN above; the decoder must find
// the inner connection, say which tunnel it came through and whose outer addresses it had.
Frame outer_ipv4(std::uint8_t protocol, std::size_t payload_size) {
    const auto total = static_cast<std::uint16_t>(20 + payload_size);
    return {0x45,
            0x00,
            static_cast<std::uint8_t>(total >> 8),
            static_cast<std::uint8_t>(total),
            0x00,
            0x01,
            0x40,
            0x00,
            0x40,
            protocol,
            0x00,
            0x00,
            198,
            18,
            1,
            1,
            198,
            18,
            1,
            2};
}

Frame udp_header(std::uint16_t source, std::uint16_t destination, std::size_t payload_size) {
    const auto length = static_cast<std::uint16_t>(8 + payload_size);
    return {static_cast<std::uint8_t>(source >> 8),
            static_cast<std::uint8_t>(source),
            static_cast<std::uint8_t>(destination >> 8),
            static_cast<std::uint8_t>(destination),
            static_cast<std::uint8_t>(length >> 8),
            static_cast<std::uint8_t>(length),
            0,
            0};
}

// Ethernet, outer IPv4, UDP to `port`, the tunnel header, then `inner`.
Frame over_udp(std::uint16_t port, const Frame& tunnel_header, const Frame& inner) {
    const Frame payload = join({tunnel_header, inner});
    return join({ethernet_header, outer_ipv4(17, 8 + payload.size()),
                 udp_header(54321, port, payload.size()), payload});
}

Frame over_ip(std::uint8_t protocol, const Frame& payload) {
    return join({ethernet_header, outer_ipv4(protocol, payload.size()), payload});
}

const Frame inner_ethernet_syn = join({ethernet_header, ipv4_tcp_syn});

// decode_exact with the tunnel it reports.
struct Unwrapped {
    DecodeResult result;
    TunnelInfo tunnel;
};

Unwrapped unwrap(const Frame& frame, const DecodeOptions& options = {},
                 LinkType link = LinkType::ethernet) {
    auto copy = std::make_unique<std::uint8_t[]>(frame.size());
    std::copy(frame.begin(), frame.end(), copy.get());
    Unwrapped out;
    out.result = decode_packet(link, {copy.get(), frame.size()}, options, &out.tunnel);
    return out;
}

void expect_tunnel(const Unwrapped& unwrapped, TunnelKind kind, std::optional<std::uint32_t> id,
                   bool outer_ip = true) {
    expect_ipv4_syn(unwrapped.result);
    EXPECT_GE(unwrapped.result.tunnel_depth, 1);
    const TunnelInfo& tunnel = unwrapped.tunnel;
    EXPECT_EQ(tunnel.kind, kind) << tunnel_name(tunnel.kind);
    EXPECT_EQ(tunnel.has_id, id.has_value());
    if (id) {
        EXPECT_EQ(tunnel.id, *id);
    }
    if (outer_ip) {
        EXPECT_EQ(tunnel.outer_source, ipv4(198, 18, 1, 1));
        EXPECT_EQ(tunnel.outer_destination, ipv4(198, 18, 1, 2));
    }
}

TEST(DecodeTunnels, VxlanOnIanasPortAndLinuxs) {
    const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0};  // VNI 42
    for (const std::uint16_t port : {4789, 8472}) {
        expect_tunnel(unwrap(over_udp(port, vxlan, inner_ethernet_syn)), TunnelKind::vxlan, 42);
    }
}

TEST(DecodeTunnels, GeneveWithOptionsAndIpInside) {
    // Two words of options; then the protocol is IPv4 itself, no Ethernet.
    const Frame geneve = {0x02, 0,    0x08, 0x00, 0x00, 0x01, 0x00, 0,  // VNI 256
                          0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd};
    expect_tunnel(unwrap(over_udp(6081, geneve, ipv4_tcp_syn)), TunnelKind::geneve, 256);
    const Frame bridged = {0x00, 0, 0x65, 0x58, 0x00, 0x00, 0x07, 0};
    expect_tunnel(unwrap(over_udp(6081, bridged, inner_ethernet_syn)), TunnelKind::geneve, 7);
}

TEST(DecodeTunnels, GreWithChecksumKeyAndSequence) {
    const Frame gre = {0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0,  // C, K, S; IPv4
                       0x00, 0x00, 0x00, 0x63,              // key 99
                       0,    0,    0,    1};                // sequence
    expect_tunnel(unwrap(over_ip(47, join({gre, ipv4_tcp_syn}))), TunnelKind::gre, 99);
    const Frame bridging = {0x00, 0x00, 0x65, 0x58};  // transparent Ethernet bridging, no key
    expect_tunnel(unwrap(over_ip(47, join({bridging, inner_ethernet_syn}))), TunnelKind::gre,
                  std::nullopt);
}

TEST(DecodeTunnels, ErspanTypesOneTwoAndThree) {
    const Frame type_one = {0x00, 0x00, 0x88, 0xbe};
    const Frame type_two = {0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 5,   // S; sequence
                            0x10, 0x00, 0x00, 0x01, 0, 0, 0, 0};  // ERSPAN II header
    const Frame type_three = {0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 5, 0x20, 0x00,
                              0x00, 0x01, 0,    0,    0, 0, 0, 0, 0x00, 0x01,  // O set
                              1,    2,    3,    4,    5, 6, 7, 8};             // platform subheader
    for (const Frame& header : {type_one, type_two, type_three}) {
        expect_tunnel(unwrap(over_ip(47, join({header, inner_ethernet_syn}))), TunnelKind::gre,
                      std::nullopt);
    }
}

TEST(DecodeTunnels, IpInIpAndIpv6InIpv4) {
    expect_tunnel(unwrap(over_ip(4, ipv4_tcp_syn)), TunnelKind::ip_in_ip, std::nullopt);
    const Unwrapped six = unwrap(over_ip(41, ipv6_tcp_syn()));
    ASSERT_EQ(six.result.status, DecodeStatus::ok);
    EXPECT_EQ(six.result.packet.source.address.family, Family::ipv6);
    EXPECT_EQ(six.result.packet.destination.port, 8080);
    EXPECT_EQ(six.tunnel.kind, TunnelKind::ip_in_ip);
}

TEST(DecodeTunnels, MplsStackPppoeAndGtpU) {
    Frame mpls = ethernet_with_tags({}, 0x8847);
    mpls.insert(mpls.end(), {0x00, 0x06, 0x40, 0xff, 0x00, 0x07, 0x01, 0xff});  // 100, 112 (bottom)
    expect_tunnel(unwrap(join({mpls, ipv4_tcp_syn})), TunnelKind::mpls, 100, false);
    Frame pppoe = ethernet_with_tags({{0x8100, 10}}, 0x8864);
    pppoe.insert(pppoe.end(), {0x11, 0x00, 0x12, 0x34, 0x00, 0x3e, 0x00, 0x21});  // session 0x1234
    expect_tunnel(unwrap(join({pppoe, ipv4_tcp_syn})), TunnelKind::pppoe, 0x1234, false);
    // GTP-U with one extension header (a PDU session container) before the user's packet.
    const Frame gtp = {0x34, 0xff, 0x00, 0x44, 0x00, 0x00, 0x0b, 0xb8,  // TEID 3000
                       0x00, 0x00, 0x00, 0x85, 0x01, 0x10, 0x09, 0x00};
    expect_tunnel(unwrap(over_udp(2152, gtp, ipv4_tcp_syn)), TunnelKind::gtp_u, 3000);
}

// Nine IP-in-IP headers are one too many; a tunnel header cut short is counted as such; a
// datagram on a tunnel port that is not that tunnel stays an ordinary datagram.
TEST(DecodeTunnels, DepthLimitTruncationAndImpostors) {
    Frame nested = ipv4_tcp_syn;
    for (int depth = 0; depth < max_tunnel_depth; ++depth)
        nested = join({outer_ipv4(4, nested.size()), nested});
    const DecodeResult deep_enough = decode_exact(LinkType::raw, nested);
    EXPECT_EQ(deep_enough.status, DecodeStatus::ok);
    EXPECT_EQ(deep_enough.tunnel_depth, max_tunnel_depth);
    nested = join({outer_ipv4(4, nested.size()), nested});
    EXPECT_EQ(decode_exact(LinkType::raw, nested).status, DecodeStatus::tunnel_too_deep);

    const Frame cut_gre = over_ip(47, Frame{0x20, 0x00, 0x08, 0x00, 0x00});  // key cut short
    EXPECT_EQ(decode_exact(LinkType::ethernet, cut_gre).status, DecodeStatus::truncated_tunnel);

    const Frame not_vxlan = over_udp(4789, Frame{0, 0, 0, 0, 0, 0, 0, 0}, Frame(20, 0));
    const DecodeResult plain = decode_exact(LinkType::ethernet, not_vxlan);
    ASSERT_EQ(plain.status, DecodeStatus::ok);
    EXPECT_EQ(plain.packet.protocol, Protocol::udp);
    EXPECT_EQ(plain.packet.destination.port, 4789);
    EXPECT_EQ(plain.packet.source.address, ipv4(198, 18, 1, 1));
    EXPECT_EQ(plain.tunnel_depth, 0);
}

// --decapsulate none: the outer packet, as it is; --tunnel-port: another port for a tunnel.
TEST(DecodeTunnels, OptionsDecideWhatIsUnwrapped) {
    const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0};
    DecodeOptions none;
    none.decapsulate = false;
    const Unwrapped outer = unwrap(over_udp(4789, vxlan, inner_ethernet_syn), none);
    ASSERT_EQ(outer.result.status, DecodeStatus::ok);
    EXPECT_EQ(outer.result.packet.destination.port, 4789);
    EXPECT_EQ(outer.result.tunnel_depth, 0);

    DecodeOptions extra;
    ASSERT_TRUE(extra.ports.add(9999, TunnelKind::vxlan));
    expect_tunnel(unwrap(over_udp(9999, vxlan, inner_ethernet_syn), extra), TunnelKind::vxlan, 42);
}

// Below IP: PBB and FabricPath wrap a customer's Ethernet frame; VN-Tag and an integrity-only
// MACsec SecTAG sit before the ethertype; an encrypted MACsec frame is counted as such.
TEST(DecodeTunnels, BackboneFabricAndSecurityTags) {
    const Frame pbb = join({ethernet_with_tags({{0x88a8, 5}}, 0x88e7),
                            Frame{0x00, 0x01, 0x00, 0x02}, inner_ethernet_syn});  // I-SID 65538
    expect_tunnel(unwrap(pbb), TunnelKind::pbb, 65538, false);
    const Frame fabricpath =
        join({ethernet_with_tags({}, 0x8903), Frame{0x01, 0x3f}, inner_ethernet_syn});
    expect_tunnel(unwrap(fabricpath), TunnelKind::fabricpath, std::nullopt, false);

    const Frame vn_tag = join({ethernet_with_tags({}, 0x8926), Frame{0x80, 0x01, 0x00, 0x02},
                               Frame{0x08, 0x00}, ipv4_tcp_syn});
    expect_ipv4_syn(decode_exact(LinkType::ethernet, vn_tag));
    const Frame sectag_with_sci = {0x20, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 0, 1};
    const Frame macsec = join({ethernet_with_tags({}, 0x88e5), sectag_with_sci, Frame{0x08, 0x00},
                               ipv4_tcp_syn, Frame(16, 0xee)});  // then the ICV
    expect_ipv4_syn(decode_exact(LinkType::ethernet, macsec));
    // Cisco metadata (a security group tag): the ethertype after it on Ethernet, before it in GRE.
    const Frame tagged =
        join({ethernet_with_tags({}, 0x8909), Frame{0x01, 0x01, 0x00, 0x01, 0x00, 0x10, 0x08, 0x00},
              ipv4_tcp_syn});
    expect_ipv4_syn(decode_exact(LinkType::ethernet, tagged));
    const Frame gre_tagged = over_ip(
        47, join({Frame{0x00, 0x00, 0x89, 0x09, 0x08, 0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x10},
                  ipv4_tcp_syn}));
    expect_tunnel(unwrap(gre_tagged), TunnelKind::gre, std::nullopt);
    Frame encrypted = macsec;
    encrypted[14] |= 0x0c;  // E and C
    EXPECT_EQ(decode_exact(LinkType::ethernet, encrypted).status, DecodeStatus::encrypted);
}

// NSH (on its own ethertype and inside VXLAN-GPE) and a PIM Register carrying a multicast packet.
TEST(DecodeTunnels, ServiceHeadersAndPimRegisters) {
    const Frame nsh = {0x0f, 0xc2, 0x01, 0x01, 0x00, 0x01, 0x2c, 0xff};  // IPv4 next; path 300
    expect_tunnel(unwrap(join({ethernet_with_tags({}, 0x894f), nsh, ipv4_tcp_syn})),
                  TunnelKind::nsh, 300, false);
    const Frame gpe = {0x0c, 0, 0, 0x04, 0x00, 0x00, 0x09, 0};  // next protocol NSH, VNI 9
    expect_tunnel(unwrap(over_udp(4790, gpe, join({nsh, ipv4_tcp_syn}))), TunnelKind::vxlan_gpe, 9);
    const Frame register_header = {0x21, 0, 0, 0, 0, 0, 0, 0};
    expect_tunnel(unwrap(over_ip(103, join({register_header, ipv4_tcp_syn}))),
                  TunnelKind::pim_register, std::nullopt);
    const Frame hello = {0x20, 0, 0, 0, 0, 1, 0, 2};  // PIM hello: no ports
    EXPECT_EQ(decode_exact(LinkType::ethernet, over_ip(103, hello)).status,
              DecodeStatus::unsupported_transport);
}

// 802.11 data frames with LLC/SNAP, behind radiotap; QoS with a fourth address and an HT
// control field; protected frames and beacons are skipped with their reasons.
TEST(DecodeLinks, Ieee80211DataFramesBehindRadiotap) {
    const Frame radiotap = {0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00};
    Frame data_header(24, 0);
    data_header[0] = 0x08;  // data
    data_header[1] = 0x01;  // to DS
    const Frame snap = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00};
    expect_ipv4_syn(
        decode_exact(LinkType::radiotap, join({radiotap, data_header, snap, ipv4_tcp_syn})));
    expect_ipv4_syn(decode_exact(LinkType::ieee802_11, join({data_header, snap, ipv4_tcp_syn})));
    Frame qos_header(30 + 2 + 4, 0);
    qos_header[0] = 0x88;  // QoS data
    qos_header[1] = 0x83;  // to and from DS (four addresses), order: an HT control field
    expect_ipv4_syn(decode_exact(LinkType::ieee802_11, join({qos_header, snap, ipv4_tcp_syn})));
    Frame protected_header = data_header;
    protected_header[1] |= 0x40;
    EXPECT_EQ(
        decode_exact(LinkType::radiotap, join({radiotap, protected_header, Frame(40, 0)})).status,
        DecodeStatus::encrypted);
    Frame beacon(36, 0);
    beacon[0] = 0x80;
    EXPECT_EQ(decode_exact(LinkType::radiotap, join({radiotap, beacon})).status,
              DecodeStatus::non_ip);
}

// Link types that carry a header of their own before IP or Ethernet.
TEST(DecodeLinks, NflogPktapJuniperInfinibandArcnet) {
    const Frame nflog = join({Frame{0x02, 0x00, 0x00, 0x05},  // AF_INET, group 5
                              Frame{0x08, 0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00},  // a prefix
                              Frame{0x3c + 4, 0x00, 0x09, 0x00}, ipv4_tcp_syn});
    expect_ipv4_syn(decode_exact(LinkType::nflog, nflog));

    Frame pktap_header(108, 0);
    pktap_header[0] = 108;  // its length, then the record type and the inner link type, LE
    pktap_header[4] = 1;
    pktap_header[8] = 1;  // Ethernet
    expect_ipv4_syn(
        decode_exact(LinkType::pktap, join({pktap_header, ethernet_header, ipv4_tcp_syn})));
    expect_ipv4_syn(
        decode_exact(LinkType::pktap_apple, join({pktap_header, ethernet_header, ipv4_tcp_syn})));
    pktap_header[8] = 0x02;  // PKTAP (258, little-endian) inside PKTAP
    pktap_header[9] = 0x01;
    EXPECT_EQ(decode_exact(LinkType::pktap, join({pktap_header, pktap_header})).status,
              DecodeStatus::unsupported_link);

    const Frame juniper = {'M', 'G', 'C', 0x80, 0x00, 0x03, 0x01, 0x01, 0x00};  // 3 bytes of TLV
    expect_ipv4_syn(
        decode_exact(LinkType::juniper_ether, join({juniper, ethernet_header, ipv4_tcp_syn})));

    Frame infiniband(44, 0);
    infiniband[40] = 0x08;
    expect_ipv4_syn(decode_exact(LinkType::ipoib, join({infiniband, ipv4_tcp_syn})));

    expect_ipv4_syn(decode_exact(LinkType::arcnet_linux,
                                 join({Frame{0xbe, 0x50, 0xc6, 0x00, 0xf0}, ipv4_tcp_syn})));
    expect_ipv4_syn(
        decode_exact(LinkType::arcnet_linux,
                     join({Frame{0xbe, 0x50, 0xc3, 0x08, 0xd4, 0, 1, 0x69}, ipv4_tcp_syn})));
    expect_ipv4_syn(
        decode_exact(LinkType::arcnet, join({Frame{0xbe, 0x50, 0xd4, 0, 1, 0x69}, ipv4_tcp_syn})));
}

// --split-segments' path: every VLAN tag and tunnel, outermost first, with the MPLS label read
// after the tunnel was entered; none for a plain frame.
TEST(DecodeSegments, VlansAndTunnelsOutermostFirst) {
    const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0};
    Frame frame =
        over_udp(4789, vxlan, join({ethernet_with_tags({{0x8100, 7}}, 0x0800), ipv4_tcp_syn}));
    Frame tagged = ethernet_with_tags({{0x88a8, 300}, {0x8100, 400}}, 0x0800);
    tagged.insert(tagged.end(), frame.begin() + 14, frame.end());
    SegmentPath path;
    TunnelInfo tunnel;
    auto copy = std::make_unique<std::uint8_t[]>(tagged.size());
    std::copy(tagged.begin(), tagged.end(), copy.get());
    const DecodeResult result =
        decode_packet(LinkType::ethernet, {copy.get(), tagged.size()}, {}, &tunnel, &path);
    expect_ipv4_syn(result);
    ASSERT_EQ(path.count, 4);
    EXPECT_EQ(path.hops[0], (SegmentHop{TunnelKind::none, true, 300}));
    EXPECT_EQ(path.hops[1], (SegmentHop{TunnelKind::none, true, 400}));
    EXPECT_EQ(path.hops[2], (SegmentHop{TunnelKind::vxlan, true, 42}));
    EXPECT_EQ(path.hops[3], (SegmentHop{TunnelKind::none, true, 7}));

    Frame mpls = ethernet_with_tags({}, 0x8847);
    mpls.insert(mpls.end(), {0x00, 0x06, 0x41, 0xff});  // label 100, bottom
    const Frame labelled = join({mpls, ipv4_tcp_syn});
    copy = std::make_unique<std::uint8_t[]>(labelled.size());
    std::copy(labelled.begin(), labelled.end(), copy.get());
    decode_packet(LinkType::ethernet, {copy.get(), labelled.size()}, {}, nullptr, &path);
    ASSERT_EQ(path.count, 1);
    EXPECT_EQ(path.hops[0], (SegmentHop{TunnelKind::mpls, true, 100}));

    const Frame plain = join({ethernet_header, ipv4_tcp_syn});
    copy = std::make_unique<std::uint8_t[]>(plain.size());
    std::copy(plain.begin(), plain.end(), copy.get());
    decode_packet(LinkType::ethernet, {copy.get(), plain.size()}, {}, nullptr, &path);
    EXPECT_EQ(path.count, 0);
}

}  // namespace
}  // namespace ephemera
