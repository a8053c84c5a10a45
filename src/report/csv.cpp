#include <fmt/compile.h>
#include <fmt/format.h>

#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

// Rows are formatted into one buffer, with format strings compiled once, and written a block at a
// time; each host's address is turned into text once. Printing each row with fmt::print (its
// format string parsed again, a locked stdio call, inet_ntop for both addresses), with the log
// sorted by moving its records, made --connections add 0.93 s to an analysis of the benchmark's
// capture (449,315 rows: twice the analysis itself); this way, with oldest_first, 0.19 s.
constexpr std::size_t block_size = 64 * 1024;

// Seconds since the epoch with exactly six decimals, e.g. "1763784001.000250".
void append_epoch(fmt::memory_buffer& out, Micros time) {
    const Micros magnitude = time < 0 ? -time : time;
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}{}.{:06}"), time < 0 ? "-" : "",
                   magnitude / 1'000'000, magnitude % 1'000'000);
}

void append_row(fmt::memory_buffer& out, const ConnectionRecords& records,
                const ConnectionRecord& record, const std::vector<std::string>& host_text) {
    const ConnectionActivity connection = records.activity(record);
    const int client = record.client_side;
    const int server = 1 - client;
    append_epoch(out, connection.first_seen);
    out.push_back(',');
    append_epoch(out, connection.last_seen);
    fmt::format_to(
        std::back_inserter(out), FMT_COMPILE(",{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n"),
        to_string(connection.protocol), host_text[record.client_host()], record.client_port(),
        host_text[record.server_host()], record.server_port(), role_reason_name(record.role_reason),
        state_name(connection.state()), connection.total_packets(), connection.total_bytes(),
        connection.packets[client], connection.packets[server], connection.payload_bytes[client],
        connection.payload_bytes[server], connection.syn_retransmissions);
}

void write_block(std::FILE* out, fmt::memory_buffer& block) {
    // A failed write leaves the stream's error flag set, which the caller checks.
    std::fwrite(block.data(), 1, block.size(), out);
    block.clear();
}

}  // namespace

void write_connections_csv(std::FILE* out, const ConnectionRecords& records,
                           std::span<const ConnectionRecord* const> connections,
                           const CaptureSummary& capture,
                           const std::vector<Translation>& translations) {
    // The inside connection of each paired outside one, by record index.
    std::unordered_map<std::uint32_t, std::uint32_t> inside_of;
    for (const Translation& translation : translations) {
        for (const auto& [outside, inside] : translation.pairs) inside_of.emplace(outside, inside);
    }
    const bool nat_columns = !translations.empty();
    std::vector<std::string> host_text(records.host_count());
    std::vector<std::string> segment_text(capture.split_segments ? records.host_count() : 0);
    for (std::size_t host = 0; host < host_text.size(); ++host) {
        const Address& address = records.address(static_cast<std::uint32_t>(host));
        host_text[host] = to_string(address);
        if (capture.split_segments) segment_text[host] = segment_name(capture, address.segment);
    }
    fmt::memory_buffer block;
    fmt::format_to(std::back_inserter(block),
                   "start,end,protocol,client,client_port,server,server_port,role_reason,state,"
                   "packets,bytes,client_packets,server_packets,client_bytes,server_bytes,"
                   "syn_retransmissions{}{}\n",
                   capture.split_segments ? ",segment" : "",
                   nat_columns ? ",nat_inside_address,nat_inside_port" : "");
    for (const ConnectionRecord* record : connections) {
        append_row(block, records, *record, host_text);
        if (capture.split_segments) {  // the row's newline goes after the segment
            block.resize(block.size() - 1);
            fmt::format_to(std::back_inserter(block), ",{}\n", segment_text[record->client_host()]);
        }
        if (nat_columns) {  // and after the inside endpoint
            block.resize(block.size() - 1);
            const auto found = inside_of.find(static_cast<std::uint32_t>(record - &records[0]));
            if (found == inside_of.end()) {
                fmt::format_to(std::back_inserter(block), ",,\n");
            } else {
                const ConnectionRecord& inside = records[found->second];
                fmt::format_to(std::back_inserter(block), ",{},{}\n",
                               host_text[inside.client_host()], inside.client_port());
            }
        }
        if (block.size() >= block_size) write_block(out, block);
    }
    write_block(out, block);
}

}  // namespace ephemera
