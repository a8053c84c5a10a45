// `ephemera live` on a terminal: a top-like screen redrawn every interval, and alert lines.
#include <fmt/format.h>

#include <algorithm>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

std::string duration_text(Micros elapsed) {
    const auto seconds = elapsed / 1'000'000;
    return fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
}

std::string destination_text(const Endpoint& server, Protocol protocol) {
    return fmt::format("{}/{}", format_endpoint(server), to_string(protocol));
}

// Column widths that fit the rows shown (IPv6 addresses are long, IPv4 ones short).
template <typename Rows, typename Text>
std::size_t column_width(const Rows& rows, std::size_t shown, std::size_t header, Text text) {
    std::size_t width = header;
    for (std::size_t i = 0; i < rows.size() && i < shown; ++i) {
        width = std::max(width, text(rows[i]).size());
    }
    return width;
}

void append_destinations(std::string& out, const LiveSnapshot& snapshot, std::size_t top) {
    out += "SERVICES CLOSEST TO EXHAUSTION (occupied now: open or in the client's TIME_WAIT)\n";
    const auto& rows = snapshot.destinations;
    if (rows.empty()) {
        out += "  no TCP services in the window\n";
        return;
    }
    const std::size_t client_width =
        column_width(rows, top, 6, [](const DestinationNow& d) { return to_string(d.client); });
    const std::size_t server_width = column_width(rows, top, 11, [](const DestinationNow& d) {
        return destination_text(d.server, d.protocol);
    });
    fmt::format_to(std::back_inserter(out), "  {:<{}}  {:<{}}  {:>15} {:>6} {:>9} {:>13}  {}\n",
                   "CLIENT", client_width, "SERVICE", server_width, "OCCUPIED/RANGE", "UTIL",
                   "NEW/S", "SUSTAINABLE/S", "VERDICT");
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
        const DestinationNow& d = rows[i];
        fmt::format_to(std::back_inserter(out),
                       "  {:<{}}  {:<{}}  {:>15} {:>6.2f} {:>9.2f} {:>13.2f}  {}\n",
                       to_string(d.client), client_width, destination_text(d.server, d.protocol),
                       server_width, fmt::format("{}/{}", d.occupied, d.range_size), d.utilization,
                       d.new_per_s, d.sustainable_per_s, verdict_name(d.verdict));
    }
    if (rows.size() > top) {
        fmt::format_to(std::back_inserter(out), "  ... and {} more\n", rows.size() - top);
    }
}

void append_clients(std::string& out, const LiveSnapshot& snapshot, std::size_t top) {
    out += "BUSIEST CLIENTS (connections started within the window)\n";
    const auto& rows = snapshot.clients;
    if (rows.empty()) {
        out += "  no clients in the window\n";
        return;
    }
    const std::size_t client_width =
        column_width(rows, top, 6, [](const ClientNow& c) { return to_string(c.address); });
    fmt::format_to(std::back_inserter(out), "  {:<{}}  {:>8} {:>9} {:>6} {:>6}  {:<26} {}\n",
                   "CLIENT", client_width, "STARTED", "NEW/S", "OPEN", "SVCS", "RANGE",
                   "WORST UTIL");
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
        const ClientNow& c = rows[i];
        fmt::format_to(
            std::back_inserter(out), "  {:<{}}  {:>8} {:>9.2f} {:>6} {:>6}  {:<26} {:.2f} {}\n",
            to_string(c.address), client_width, c.started, c.new_per_s, c.open, c.destinations,
            fmt::format("{}-{} ({})", c.range.range.low, c.range.range.high, c.range.basis_name()),
            c.utilization, verdict_name(c.verdict));
    }
}

}  // namespace

std::string render_live_screen(const LiveSnapshot& snapshot, const LiveHealth& health,
                               const ReportOptions& options) {
    std::string out;
    fmt::format_to(std::back_inserter(out),
                   "ephemera live on {}   up {}   {} UTC   window {:.0f} s   alert at {:.2f}\n",
                   health.interface, duration_text(snapshot.time - snapshot.started),
                   format_utc(snapshot.time).substr(0, 19),
                   static_cast<double>(snapshot.window) / 1e6, health.alert_at);
    fmt::format_to(std::back_inserter(out),
                   "packets {} ({:.0f}/s)   kernel drops {}   interface drops {}   open "
                   "connections {}   started {} tcp, {} udp\n\n",
                   health.packets, health.packets_per_s, health.kernel_drops,
                   health.interface_drops, snapshot.open_connections, snapshot.tcp_started_total,
                   snapshot.udp_started_total);
    append_destinations(out, snapshot, options.top);
    out += "\n";
    append_clients(out, snapshot, options.top);
    out += "\nCtrl-C stops and prints the final report.\n";
    return out;
}

std::string render_alert(const AlertChange& change, double alert_at) {
    const DestinationNow& d = change.destination;
    return fmt::format("ephemera: {}: {} -> {} utilization {:.2f} ({}/{} ports) {} {:.2f}\n",
                       change.raised ? "alert" : "alert cleared", to_string(d.client),
                       destination_text(d.server, d.protocol), d.utilization, d.occupied,
                       d.range_size, change.raised ? "reached" : "fell below", alert_at);
}

}  // namespace ephemera
