// The connections as a Zeek conn.log, in Zeek's ASCII format or as its JSON lines: what teams that
// keep Zeek logs can read with their own tools, and ephemera reads back. The originator is
// ephemera's client; conn_state is computed as Zeek defines it from the TCP evidence ephemera
// keeps; ephemera's own fields follow Zeek's, as extension fields.
#include <fmt/format.h>

#include <array>
#include <ctime>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

struct Sides {
    int client;
    int server;
};

// Zeek's conn_state, as base/protocols/conn/main.zeek derives it from each endpoint's TCP state,
// with the states ephemera can tell: a side that sent no SYN (or SYN-ACK), nor answered one, is
// inactive or partial to Zeek; a side's FIN closes it, a RST resets it. Both FINs make SF even with
// a RST seen: a RST after both closed does not change Zeek's states, and ephemera keeps no order
// between the two.
std::string_view conn_state(const ConnectionActivity& connection, Sides sides) {
    if (connection.protocol == Protocol::udp) {
        const bool client_sent = connection.packets[sides.client] > 0;
        const bool server_sent = connection.packets[sides.server] > 0;
        if (client_sent) return server_sent ? "SF" : "S0";
        return server_sent ? "SHR" : "OTH";
    }
    const auto is = [](std::int8_t side, int who) { return side != no_side && side == who; };
    const bool syn = is(connection.syn_side, sides.client);
    const bool syn_ack = is(connection.syn_ack_side, sides.server);
    // The originator is established by its SYN, or by answering the responder's SYN-ACK.
    const bool client_inactive = !syn && !(syn_ack && connection.packets[sides.client] > 0);
    const bool server_inactive = !syn_ack;
    const bool client_reset = is(connection.rst_side, sides.client);
    const bool server_reset = is(connection.rst_side, sides.server);
    const bool client_closed = connection.fin(sides.client);
    const bool server_closed = connection.fin(sides.server);
    const bool no_payload = connection.total_bytes() == 0;
    if (client_closed && server_closed) return "SF";
    if (server_reset) {
        if ((syn && !syn_ack) || (client_reset && no_payload)) return "REJ";
        return client_inactive ? "RSTRH" : "RSTR";
    }
    if (client_reset) {
        if (server_inactive) return syn && !client_closed ? "RSTOS0" : "OTH";
        return "RSTO";
    }
    if (client_closed) return server_inactive ? "SH" : "S2";
    if (server_closed) return client_inactive ? "SHR" : "S3";
    if (syn && !syn_ack && connection.packets[sides.server] == 0) return "S0";
    if (!client_inactive && !server_inactive) return "S1";
    return "OTH";
}

// Zeek's history letters for what ephemera tracks (upper case the originator's): the handshake,
// data, FINs and RSTs, in handshake order rather than the order they came in.
std::string history(const ConnectionActivity& connection, Sides sides) {
    std::string letters;
    const auto letter = [&](bool seen, int side, char upper) {
        if (seen) letters += side == sides.client ? upper : static_cast<char>(upper + ('a' - 'A'));
    };
    const bool tcp = connection.protocol == Protocol::tcp;
    for (const int side : {sides.client, sides.server}) {
        letter(tcp && connection.syn_side == side, side, 'S');
        letter(tcp && connection.syn_ack_side == side, side, 'H');
    }
    for (const int side : {sides.client, sides.server}) {  // more than the handshake: an ACK
        letter(tcp && connection.packets[side] > 1, side, 'A');
    }
    for (const int side : {sides.client, sides.server}) {
        letter(connection.payload_bytes[side] > 0, side, 'D');
    }
    for (const int side : {sides.client, sides.server}) {
        letter(tcp && connection.fin(side), side, 'F');
    }
    for (const int side : {sides.client, sides.server}) {
        letter(tcp && connection.rst_side == side, side, 'R');
    }
    return letters;
}

// A uid as Zeek's look ("C" and 17 base-62 characters), from the connection's start and
// endpoints: the same capture gives the same uids.
std::string uid(const ConnectionRecord& record, const Endpoint& client, const Endpoint& server) {
    const std::string key =
        fmt::format("{} {} {} {} {} {}", record.first_seen, to_string(client.address), client.port,
                    to_string(server.address), server.port, to_string(record.protocol));
    std::uint64_t high = 14695981039346656037ULL;  // FNV-1a, twice with different seeds
    std::uint64_t low = 0x9e3779b97f4a7c15ULL;
    for (const char c : key) {
        high = (high ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        low = (low ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL + 0x632be59bd9b4e019ULL;
    }
    static constexpr char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string text = "C";
    for (int i = 0; i < 17; ++i) {
        std::uint64_t& word = i < 9 ? high : low;
        text += digits[word % 62];
        word /= 62;
    }
    return text;
}

std::string seconds(Micros time) {
    const Micros magnitude = time < 0 ? -time : time;
    return fmt::format("{}{}.{:06}", time < 0 ? "-" : "", magnitude / 1'000'000,
                       magnitude % 1'000'000);
}

// "2026-12-04-21-34-11", as Zeek writes #open and #close.
std::string header_time(Micros time) {
    const std::time_t whole = static_cast<std::time_t>(time / 1'000'000);
    std::tm parts{};
    gmtime_r(&whole, &parts);
    std::array<char, 32> text{};
    std::strftime(text.data(), text.size(), "%Y-%m-%d-%H-%M-%S", &parts);
    return text.data();
}

struct Fields {
    std::string ts, uid, orig_h, resp_h, proto, duration, conn_state, history, role_reason, state;
    std::uint16_t orig_p, resp_p;
    std::uint64_t orig_bytes, resp_bytes, orig_pkts, resp_pkts, syn_retransmissions;
};

Fields fields_of(const ConnectionRecords& records, const ConnectionRecord& record) {
    const ConnectionActivity connection = records.activity(record);
    const Sides sides{record.client_side, 1 - record.client_side};
    const Endpoint client = records.client(record);
    const Endpoint server = records.server(record);
    return {seconds(connection.first_seen),
            uid(record, client, server),
            to_string(client.address),
            to_string(server.address),
            to_string(connection.protocol),
            seconds(connection.last_seen - connection.first_seen),
            std::string(conn_state(connection, sides)),
            history(connection, sides),
            std::string(role_reason_name(record.role_reason)),
            std::string(state_name(connection.state())),
            client.port,
            server.port,
            connection.payload_bytes[sides.client],
            connection.payload_bytes[sides.server],
            connection.packets[sides.client],
            connection.packets[sides.server],
            connection.syn_retransmissions};
}

constexpr const char* field_names =
    "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\t"
    "resp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts\tephemera_role_reason\t"
    "ephemera_state\tephemera_syn_retransmissions";
constexpr const char* field_types =
    "time\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tcount\tstring\tstring\tcount\t"
    "count\tstring\tstring\tcount";

void write_ascii(std::FILE* out, const ConnectionRecords& records,
                 std::span<const ConnectionRecord* const> connections,
                 const CaptureSummary& capture) {
    fmt::print(out,
               "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
               "#path\tconn\n#open\t{}\n#fields\t{}\n#types\t{}\n",
               header_time(capture.first), field_names, field_types);
    fmt::memory_buffer block;
    for (const ConnectionRecord* record : connections) {
        const Fields f = fields_of(records, *record);
        fmt::format_to(std::back_inserter(block),
                       "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", f.ts,
                       f.uid, f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.proto, f.duration,
                       f.orig_bytes, f.resp_bytes, f.conn_state,
                       f.history.empty() ? "(empty)" : f.history, f.orig_pkts, f.resp_pkts,
                       f.role_reason, f.state, f.syn_retransmissions);
        if (block.size() >= 64 * 1024) {
            std::fwrite(block.data(), 1, block.size(), out);
            block.clear();
        }
    }
    std::fwrite(block.data(), 1, block.size(), out);
    fmt::print(out, "#close\t{}\n", header_time(capture.last));
}

void write_json_lines(std::FILE* out, const ConnectionRecords& records,
                      std::span<const ConnectionRecord* const> connections) {
    for (const ConnectionRecord* record : connections) {
        const Fields f = fields_of(records, *record);
        const nlohmann::ordered_json row = {
            {"ts", std::stod(f.ts)},
            {"uid", f.uid},
            {"id.orig_h", f.orig_h},
            {"id.orig_p", f.orig_p},
            {"id.resp_h", f.resp_h},
            {"id.resp_p", f.resp_p},
            {"proto", f.proto},
            {"duration", std::stod(f.duration)},
            {"orig_bytes", f.orig_bytes},
            {"resp_bytes", f.resp_bytes},
            {"conn_state", f.conn_state},
            {"history", f.history},
            {"orig_pkts", f.orig_pkts},
            {"resp_pkts", f.resp_pkts},
            {"ephemera_role_reason", f.role_reason},
            {"ephemera_state", f.state},
            {"ephemera_syn_retransmissions", f.syn_retransmissions}};
        fmt::print(out, "{}\n", row.dump());
    }
}

}  // namespace

void write_connections_zeek(std::FILE* out, const ConnectionRecords& records,
                            std::span<const ConnectionRecord* const> connections,
                            const CaptureSummary& capture, bool json_lines) {
    if (json_lines) {
        write_json_lines(out, records, connections);
    } else {
        write_ascii(out, records, connections, capture);
    }
}

}  // namespace ephemera
