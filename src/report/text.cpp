// The text report: what a person reads first comes first (warnings and failures), then the
// busiest clients and services.
#include <algorithm>
#include <ctime>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

using State = ConnectionState;

}  // namespace

std::string format_utc(Micros time) {
    const std::time_t seconds = static_cast<std::time_t>(time / 1'000'000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       time % 1'000'000);
}

namespace {

std::string plural(std::uint64_t count, const char* singular, const char* many) {
    return fmt::format("{} {}", count, count == 1 ? singular : many);
}

std::uint64_t count(const std::array<std::uint64_t, 7>& states, State state) {
    return states[static_cast<std::size_t>(state)];
}

void append_header(std::string& out, const CaptureSummary& capture) {
    fmt::format_to(std::back_inserter(out), "Capture: {}, {}",
                   capture.live ? plural(capture.files.size(), "interface", "interfaces")
                                : plural(capture.files.size(), "file", "files"),
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
    if (capture.live) {
        fmt::format_to(std::back_inserter(out),
                       "  dropped before ephemera saw them: {} by the kernel, {} by the "
                       "interface\n",
                       capture.kernel_drops, capture.interface_drops);
    }
}

std::string destination_name(const DestinationOccupancy& destination) {
    return fmt::format("{}/{}", format_endpoint(destination.server),
                       to_string(destination.protocol));
}

std::string consequence(Verdict verdict, std::uint32_t free_ports) {
    switch (verdict) {
        case Verdict::exhausted:
            return "exhausted: the next connect() fails with EADDRNOTAVAIL";
        case Verdict::critical:
            return fmt::format("critical: {} more and connect() fails with EADDRNOTAVAIL",
                               plural(free_ports, "connection", "connections"));
        case Verdict::warning:
            return "warning: over half the range is held";
        case Verdict::ok:
            break;
    }
    return "ok";
}

struct Finding {
    double severity;  // sorts the findings: utilization first, then fixed ranks
    std::string text;
};

void add_exhaustion_findings(std::vector<Finding>& findings, const ClientSummary& client) {
    const ClientPorts& use = client.port_use;
    const std::uint32_t size = use.range.range.size();
    for (const DestinationOccupancy& destination : use.exhaustion.destinations) {
        if (destination.verdict == Verdict::ok) continue;
        findings.push_back(
            {1.0 + destination.utilization,
             fmt::format("{} -> {}: {} of {} ports occupied at {} ({:.0f}%), {}.",
                         to_string(client.address), destination_name(destination),
                         destination.peak_occupied, size, format_utc(destination.peak_at),
                         destination.utilization * 100,
                         consequence(destination.verdict, size > destination.peak_occupied
                                                              ? size - destination.peak_occupied
                                                              : 0))});
    }
    for (const DestinationOccupancy& destination : use.exhaustion.destinations) {
        // Where the range already ran out, that finding says more than the rate.
        if (destination.peak_new_per_s <= destination.sustainable_new_per_s ||
            destination.verdict >= Verdict::critical) {
            continue;
        }
        findings.push_back(
            {0.9,
             fmt::format("{} -> {}: {:.0f} new connections in one second, more than the {:.3g} "
                         "per second its {}-port range sustains with {:.0f} s of TIME_WAIT.",
                         to_string(client.address), destination_name(destination),
                         destination.peak_new_per_s, destination.sustainable_new_per_s, size,
                         use.exhaustion.time_wait_s)});
    }
}

void add_client_findings(std::vector<Finding>& findings, const ClientSummary& client) {
    const ClientPorts& use = client.port_use;
    const std::string address = to_string(client.address);
    if (use.failures.refused + use.failures.unanswered > 0) {
        std::vector<std::string> parts;
        if (use.failures.refused > 0) {
            parts.push_back(fmt::format(
                "{} refused (answered by RST)",
                plural(use.failures.refused, "connection attempt", "connection attempts")));
        }
        if (use.failures.unanswered > 0) {
            parts.push_back(fmt::format(
                "{} unanswered",
                plural(use.failures.unanswered, "connection attempt", "connection attempts")));
        }
        std::string sentence = fmt::format("{}: {}", address, fmt::join(parts, ", "));
        if (use.failures.syn_retransmissions > 0) {
            sentence += fmt::format(" ({})", plural(use.failures.syn_retransmissions,
                                                    "SYN retransmission", "SYN retransmissions"));
        }
        findings.push_back({0.8, sentence + "."});
    }
    if (use.reuse.time_wait_collisions > 0) {
        findings.push_back(
            {0.75,
             fmt::format(
                 "{}: {} met a server still in TIME_WAIT (SYN, ACK, RST, SYN).", address,
                 plural(use.reuse.time_wait_collisions, "new connection", "new connections"))});
    }
    if (use.reuse.time_wait_reuses > 0) {
        findings.push_back(
            {0.7, fmt::format(
                      "{}: {} reused while TIME_WAIT still held them (within {:.0f} s); the "
                      "shortest gap before a port was used again was {:.3f} s.",
                      address, plural(use.reuse.time_wait_reuses, "4-tuple was", "4-tuples were"),
                      use.exhaustion.time_wait_s, use.reuse.min_interval_s)});
    }
    if (use.range.basis == "observed" && use.range.range.size() < 1024) {
        findings.push_back(
            {0.6, fmt::format("{}: allocates from only {} ports ({}-{}), far fewer than any OS "
                              "default: a narrowed ip_local_port_range?",
                              address, use.range.range.size(), use.range.range.low,
                              use.range.range.high)});
    }
}

}  // namespace

std::vector<std::string> findings_worst_first(const Report& report) {
    std::vector<Finding> findings;
    for (const ClientSummary& client : report.clients) {
        add_exhaustion_findings(findings, client);
        add_client_findings(findings, client);
    }
    // An input read only in part comes first: everything after it describes only that part.
    std::vector<std::string> stopped;
    for (const CaptureSummary::File& file : report.capture.files) {
        if (file.stopped.empty()) continue;
        findings.push_back({100.0, file.stopped});
        stopped.push_back(file.stopped);
    }
    // Capture-wide warnings (a flood, a clock step) frame everything after them.
    for (const std::string& warning : report.warnings) {
        if (std::find(stopped.begin(), stopped.end(), warning) == stopped.end())
            findings.push_back({0.95, warning});
    }
    for (const ScanSummary& scan : report.scans) {
        findings.push_back(
            {0.9, fmt::format("{} scanned {} on {} ({} answered, {} to {}): a port scan, left out "
                              "of the client and service tallies.",
                              to_string(scan.source), plural(scan.ports, "port", "ports"),
                              plural(scan.hosts, "host", "hosts"), scan.answered,
                              format_utc(scan.first), format_utc(scan.last))});
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
        findings.push_back({0.1, fmt::format("{} without usable TCP/UDP ports skipped: {}",
                                             plural(skipped, "packet", "packets"), reasons)});
    }
    std::stable_sort(findings.begin(), findings.end(),
                     [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
    std::vector<std::string> sentences;
    for (Finding& finding : findings) sentences.push_back(std::move(finding.text));
    return sentences;
}

namespace {

void append_findings(std::string& out, const Report& report) {
    const std::vector<std::string> findings = findings_worst_first(report);
    if (findings.empty()) return;
    out += "\nFindings, worst first\n";
    for (const std::string& finding : findings) {
        fmt::format_to(std::back_inserter(out), "  - {}\n", finding);
    }
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
    fmt::format_to(std::back_inserter(out), "\nClients ({}), closest to exhaustion first\n",
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

void append_port_use(std::string& out, const Report& report, std::size_t top) {
    if (report.clients.empty()) return;
    out += "\nPort use by client, closest to exhaustion first\n";
    fmt::format_to(std::back_inserter(out), "  {:<39} {:<24} {:<22} {:<18} {:>13} {:>6} {}\n",
                   "address", "range", "allocation", "os hint", "peak occupied", "use", "verdict");
    const std::size_t shown = std::min(top, report.clients.size());
    for (std::size_t row = 0; row < shown; ++row) {
        const ClientSummary& client = report.clients[row];
        const ClientPorts& use = client.port_use;
        const std::string range =
            fmt::format("{}-{} {}", use.range.range.low, use.range.range.high, use.range.basis);
        const std::string allocation =
            use.allocation.pattern == AllocationPattern::unknown
                ? fmt::format("unknown ({} conn.)", use.allocation.samples)
                : fmt::format("{} ({:.2f})", pattern_name(use.allocation.pattern),
                              use.allocation.confidence);
        const std::string worst =
            use.exhaustion.destinations.empty()
                ? std::string("-")
                : fmt::format("{}/{}", use.exhaustion.destinations.front().peak_occupied,
                              use.range.range.size());
        fmt::format_to(std::back_inserter(out),
                       "  {:<39} {:<24} {:<22} {:<18} {:>13} {:>5.0f}% {}\n",
                       to_string(client.address), range, allocation,
                       use.allocation.os_hint.empty() ? "-" : use.allocation.os_hint, worst,
                       use.exhaustion.utilization * 100, verdict_name(use.exhaustion.verdict));
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

std::string render_text(const Report& report, const ReportOptions& options) {
    std::string out;
    append_header(out, report.capture);
    append_findings(out, report);
    append_connections(out, report);
    append_clients(out, report, options.top);
    append_port_use(out, report, options.top);
    append_servers(out, report, options.top);
    return out;
}

}  // namespace ephemera
