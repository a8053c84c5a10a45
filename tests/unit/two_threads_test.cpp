// The offline loop on two threads (app/two_threads) must give exactly what the pipeline gives
// frame by frame: the same connections, in the same order, and the same counts.
#include "ephemera/app/two_threads.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ephemera/analysis/summary.hpp"
#include "ephemera/core/large_buffer.hpp"

#include "sample_captures.hpp"

namespace ephemera {
namespace {

struct Outcome {
    // In the order the tracker finished them.
    std::vector<ConnectionActivity> connections;
    std::vector<std::array<Endpoint, 2>> endpoints;
    CaptureSummary capture;
};

Outcome analyze(const std::string& path, bool two_threads) {
    CaptureReader reader({path}, "", true);
    ConnectionLog log;
    PacketPipeline pipeline(TrackerOptions{}, log);
    if (two_threads) {
        const std::array<const GrowsIntoFreshMemory*, 2> growing{&pipeline.tracker(), &log};
        run_on_two_threads(reader, pipeline, growing);
    } else {
        while (const RawFrame* frame = reader.next()) {
            pipeline.on_frame(frame->timestamp, frame->link_type, frame->bytes);
        }
    }
    pipeline.finish();
    Outcome outcome;
    for (const ConnectionRecord& record : log.records()) {
        outcome.connections.push_back(log.records().activity(record));
        outcome.endpoints.push_back(
            {log.records().endpoint(record, 0), log.records().endpoint(record, 1)});
    }
    outcome.capture = pipeline.capture();
    return outcome;
}

void expect_same_outcome(const std::string& path) {
    SCOPED_TRACE(path);
    const Outcome one = analyze(path, false);
    const Outcome two = analyze(path, true);
    EXPECT_EQ(two.capture.packets, one.capture.packets);
    EXPECT_EQ(two.capture.decoded, one.capture.decoded);
    EXPECT_EQ(two.capture.skipped, one.capture.skipped);
    EXPECT_EQ(two.capture.duplicates, one.capture.duplicates);
    EXPECT_EQ(two.capture.first, one.capture.first);
    EXPECT_EQ(two.capture.last, one.capture.last);
    EXPECT_EQ(two.capture.backward_steps, one.capture.backward_steps);
    ASSERT_EQ(two.connections.size(), one.connections.size());
    for (std::size_t i = 0; i < one.connections.size(); ++i) {
        // ConnectionActivity has no padding (a static_assert says so): equal bytes, equal
        // activity.
        ASSERT_EQ(std::memcmp(&two.connections[i], &one.connections[i], sizeof(ConnectionActivity)),
                  0)
            << "connection " << i << " differs";
        ASSERT_EQ(two.endpoints[i], one.endpoints[i]) << "connection " << i << " differs";
    }
}

TEST(TwoThreads, SameAsFrameByFrameOnEverySample) {
    const std::vector<std::string> samples = sample_captures();
    for (const std::string& path : samples) expect_same_outcome(path);
    EXPECT_GE(samples.size(), 14u);
}

// What run_on_two_threads faults in ahead: the table's and the log's unfilled ends, right past
// what they hold, and nothing of a table that reuses its freed entries.
TEST(FreshMemory, TheTableAndTheLogOfferTheEndTheyFillNext) {
    if (!large_buffer::reserving_is_free) {
        GTEST_SKIP() << "sanitized build: buffers grow as they fill, nothing is offered";
    }
    ConnectionLog log;
    PacketPipeline pipeline(TrackerOptions{}, log);
    const GrowsIntoFreshMemory& table = pipeline.tracker();
    const GrowsIntoFreshMemory& logged = log;
    EXPECT_FALSE(table.fresh_memory_ahead().empty()) << "a new table grows from its start";

    const std::string path = std::string(EPHEMERA_SOURCE_DIR) + "/pcaps/tcp-ipv4.pcap";
    CaptureReader reader({path}, "", true);
    while (const RawFrame* frame = reader.next()) {
        pipeline.on_frame(frame->timestamp, frame->link_type, frame->bytes);
    }
    pipeline.finish();
    const ConnectionRecords& records = log.records();
    ASSERT_GT(records.size(), 0u);
    const std::span<std::byte> ahead = logged.fresh_memory_ahead();
    ASSERT_FALSE(ahead.empty());
    EXPECT_EQ(reinterpret_cast<const ConnectionRecord*>(ahead.data()),
              records.storage().data() + records.size());
    EXPECT_EQ(ahead.size() % sizeof(ConnectionRecord), 0u);
}

// Ethernet, IPv4 198.18.0.1 -> 198.18.0.2 (or back), TCP with the given port, flags and
// sequence number.
std::array<std::uint8_t, 54> tcp_frame(bool from_client, std::uint16_t client_port,
                                       std::uint8_t flags, std::uint32_t sequence) {
    std::array<std::uint8_t, 54> frame{
        // Ethernet: destination, source, IPv4.
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
        // IPv4: version/IHL, TOS, total length 40, id, fragment, TTL 64, TCP, checksum.
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0,
        // Source and destination addresses.
        198, 18, 0, 1, 198, 18, 0, 2,
        // TCP: ports (set below), sequence, acknowledgment, offset 5, flags, window, sum, urgent.
        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0, 0xff, 0xff, 0, 0, 0, 0};
    const std::uint16_t server_port = 8080;
    const std::uint16_t source = from_client ? client_port : server_port;
    const std::uint16_t destination = from_client ? server_port : client_port;
    if (!from_client) std::swap_ranges(frame.begin() + 26, frame.begin() + 30, frame.begin() + 30);
    frame[34] = static_cast<std::uint8_t>(source >> 8);
    frame[35] = static_cast<std::uint8_t>(source);
    frame[36] = static_cast<std::uint8_t>(destination >> 8);
    frame[37] = static_cast<std::uint8_t>(destination);
    for (int byte = 0; byte < 4; ++byte) {
        frame[38 + byte] = static_cast<std::uint8_t>(sequence >> (24 - 8 * byte));
    }
    frame[47] = flags;
    return frame;
}

// Far more batches than the ring holds: connections open, close and are replaced on reused
// ports across every batch boundary, with frames that do not decode and duplicates among them.
TEST(TwoThreads, SameAsFrameByFrameAcrossManyBatches) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("ephemera-two-threads-" + std::to_string(getpid()) + ".pcap"))
                                 .string();
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
    long micros = 0;
    const auto write = [&](const std::uint8_t* bytes, std::uint32_t length) {
        pcap_pkthdr header{};
        header.ts.tv_sec = 1'700'000'000 + micros / 1'000'000;
        header.ts.tv_usec = micros % 1'000'000;
        header.caplen = header.len = length;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, bytes);
        micros += 50;
    };
    constexpr int connections = 30'000;
    constexpr std::uint8_t syn = 0x02, ack = 0x10, syn_ack = 0x12, fin_ack = 0x11;
    for (int i = 0; i < connections; ++i) {
        // 5,000 ports: each is used six times, so later connections replace closed ones.
        const auto port = static_cast<std::uint16_t>(40000 + i % 5000);
        for (const auto& [from_client, flags] : std::vector<std::pair<bool, std::uint8_t>>{
                 {true, syn}, {false, syn_ack}, {true, ack}, {true, fin_ack}, {false, fin_ack}}) {
            // A new initial sequence number each time, or a SYN would be a retransmission.
            const auto frame = tcp_frame(from_client, port, flags, 1000u * i);
            write(frame.data(), frame.size());
            if (i % 97 == 0) write(frame.data(), frame.size());  // a duplicate
        }
        if (i % 101 == 0) {
            const std::array<std::uint8_t, 20> arp{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2,
                                                   0,    0,    0,    0,    1,    0x08, 0x06};
            write(arp.data(), arp.size());
        }
    }
    pcap_dump_close(dumper);
    pcap_close(dead);

    const Outcome one = analyze(path, false);
    EXPECT_EQ(one.connections.size(), static_cast<std::size_t>(connections));
    EXPECT_GT(one.capture.duplicates, 0u);
    EXPECT_GT(one.capture.packets, 5u * connections);
    expect_same_outcome(path);
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace ephemera
