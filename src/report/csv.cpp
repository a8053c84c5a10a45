#include <fmt/format.h>

#include "ephemera/report/report.hpp"

namespace ephemera {

void write_connections_csv(std::FILE* out, const ConnectionRecords& records) {
    fmt::print(out,
               "start,end,protocol,client,client_port,server,server_port,role_reason,state,"
               "packets,bytes,client_packets,server_packets,client_bytes,server_bytes,"
               "syn_retransmissions\n");
    for (const ConnectionRecord& record : records) {
        const ConnectionActivity& connection = record.connection;
        const int client = record.client_side;
        const int server = 1 - client;
        fmt::print(out, "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                   format_epoch(connection.first_seen), format_epoch(connection.last_seen),
                   to_string(connection.protocol), to_string(records.address(record.client_host())),
                   record.client_port(), to_string(records.address(record.server_host())),
                   record.server_port(), role_reason_name(record.role_reason),
                   state_name(connection.state()), connection.total_packets(),
                   connection.total_bytes(), connection.packets[client], connection.packets[server],
                   connection.payload_bytes[client], connection.payload_bytes[server],
                   connection.syn_retransmissions);
    }
}

}  // namespace ephemera
