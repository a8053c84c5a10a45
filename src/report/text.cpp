// The text report: what a person reads first comes first (warnings and failures), then the
// busiest clients and services.
#include <ctime>

#include <fmt/format.h>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

using State = ConnectionState;

std::string format_utc(Micros time) {
    const std::time_t seconds = static_cast<std::time_t>(time / 1'000'000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       time % 1'000'000);
}

std::string plural(std::uint64_t count, const char* singular, const char* many) {
    return fmt::format("{} {}", count, count == 1 ? singular : many);
}

std::uint64_t count(const std::array<std::uint64_t, 7>& states, State state) {
    return states[static_cast<std::size_t>(state)];
}

void append_header(std::string& out, const CaptureSummary& capture) {
    fmt::format_to(std::back_inserter(out), "Capture: {}, {}",
                   plural(capture.files.size(), "file", "files"),
                   plural(capture.packets, "packet", "packets"));
    if (capture.packets > 0) {
        fmt::format_to(std::back_inserter(out), ", {} to {} UTC ({:.3f} s)",
                       format_utc(capture.first), format_utc(capture.last),
                       static_cast<double>(capture.last - capture.first) / 1e6);
    }
    out += "\n";
    for (const CaptureSummary::File& file : capture.files) {
        fmt::format_to(std::back_inserter(out), "  {}  {}  {}\n",
                       file.path == "-" ? "<stdin>" : file.path, file.link_type,
                       plural(file.packets, "packet", "packets"));
    }
}

void append_findings(std::string& out, const Report& report) {
    std::vector<std::string> findings = report.warnings;
    if (const auto refused = count(report.states, State::refused); refused > 0) {
        findings.push_back(fmt::format("{} refused (SYN answered by RST)",
                                       plural(refused, "TCP attempt was", "TCP attempts were")));
    }
    if (const auto unanswered = count(report.states, State::unanswered); unanswered > 0) {
        findings.push_back(
            fmt::format("{} no answer", plural(unanswered, "TCP attempt got", "TCP attempts got")));
    }
    std::uint64_t skipped = 0;
    std::string reasons;
    for (std::size_t reason = 1; reason < decode_status_count; ++reason) {
        const std::uint64_t n = report.capture.skipped[reason];
        if (n == 0) continue;
        skipped += n;
        fmt::format_to(std::back_inserter(reasons), "{}{} {}", reasons.empty() ? "" : ", ",
                       reason_name(static_cast<DecodeStatus>(reason)), n);
    }
    if (skipped > 0) {
        findings.push_back(fmt::format("{} without usable TCP/UDP ports skipped: {}",
                                       plural(skipped, "packet", "packets"), reasons));
    }
    if (findings.empty()) return;
    out += "\nFindings\n";
    for (const std::string& finding : findings)
        fmt::format_to(std::back_inserter(out), "  - {}\n", finding);
}

void append_connections(std::string& out, const Report& report) {
    fmt::format_to(std::back_inserter(out), "\nConnections: {} TCP, {} UDP\n",
                   report.tcp_connections, report.udp_flows);
    std::string states;
    for (std::size_t state = 0; state < report.states.size(); ++state) {
        if (report.states[state] == 0) continue;
        fmt::format_to(std::back_inserter(states), "{}{} {}", states.empty() ? "" : ", ",
                       state_name(static_cast<State>(state)), report.states[state]);
    }
    if (!states.empty()) fmt::format_to(std::back_inserter(out), "  states: {}\n", states);
    std::string reasons;
    for (std::size_t reason = 0; reason < role_reason_count; ++reason) {
        if (report.role_reasons[reason] == 0) continue;
        fmt::format_to(std::back_inserter(reasons), "{}{} {}", reasons.empty() ? "" : ", ",
                       role_reason_name(static_cast<RoleReason>(reason)),
                       report.role_reasons[reason]);
    }
    if (!reasons.empty())
        fmt::format_to(std::back_inserter(out), "  client chosen by: {}\n", reasons);
}

void append_more(std::string& out, std::size_t shown, std::size_t total) {
    if (total > shown)
        fmt::format_to(std::back_inserter(out), "  ... {} more (--top)\n", total - shown);
}

void append_clients(std::string& out, const Report& report, std::size_t top) {
    if (report.clients.empty()) return;
    fmt::format_to(std::back_inserter(out), "\nClients ({}), busiest first\n",
                   report.clients.size());
    fmt::format_to(std::back_inserter(out), "  {:<39} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>7}\n",
                   "address", "tcp", "udp", "ports", "lowest", "highest", "servers", "failed");
    const std::size_t shown = std::min(top, report.clients.size());
    for (std::size_t row = 0; row < shown; ++row) {
        const ClientSummary& client = report.clients[row];
        const std::uint64_t failed =
            count(client.states, State::refused) + count(client.states, State::unanswered);
        fmt::format_to(
            std::back_inserter(out), "  {:<39} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>7}\n",
            to_string(client.address), client.tcp_connections, client.udp_flows,
            client.ports.distinct, client.ports.min, client.ports.max, client.servers, failed);
    }
    append_more(out, shown, report.clients.size());
}

void append_servers(std::string& out, const Report& report, std::size_t top) {
    if (report.servers.empty()) return;
    fmt::format_to(std::back_inserter(out), "\nServices ({}), busiest first\n",
                   report.servers.size());
    fmt::format_to(std::back_inserter(out), "  {:<46} {:<5} {:>12} {:>8} {:>13}\n", "service",
                   "proto", "connections", "clients", "client ports");
    const std::size_t shown = std::min(top, report.servers.size());
    for (std::size_t row = 0; row < shown; ++row) {
        const ServerSummary& server = report.servers[row];
        fmt::format_to(std::back_inserter(out), "  {:<46} {:<5} {:>12} {:>8} {:>13}\n",
                       format_endpoint(server.endpoint), to_string(server.protocol),
                       server.connections, server.clients, server.client_ports);
    }
    append_more(out, shown, report.servers.size());
}

}  // namespace

std::string render_text(const Report& report, const TextOptions& options) {
    std::string out;
    append_header(out, report.capture);
    append_findings(out, report);
    append_connections(out, report);
    append_clients(out, report, options.top);
    append_servers(out, report, options.top);
    return out;
}

}  // namespace ephemera
