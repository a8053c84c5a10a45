// The HTML report: one self-contained file. Chart.js (from Debian's libjs-chart.js) and its licence
// are embedded at build time; the data travels as one JSON block; a short script draws the plots.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ephemera/report/report.hpp"

// Embedded at build time (CMakeLists.txt): Chart.js and its licence from Debian's libjs-chart.js,
// and the page's own style and script from assets/. report_script draws the three plots of every
// client: bands and lines are a small Chart.js plugin; zoom is a drag across a plot (double-click
// resets). When done, each canvas records how many points it drew and how much it inked, and
// <body> whether the page is ready and which errors occurred.
extern const char chartjs_source[];
extern const char chartjs_license[];
extern const char report_style[];
extern const char report_script[];

namespace ephemera {
namespace {

using nlohmann::ordered_json;

constexpr std::size_t max_points_per_client = 3000;

std::string escape_html(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// JSON placed inside <script> must not close the element early.
std::string script_safe(std::string json) {
    for (std::size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3)) {
        json.replace(at, 2, "<\\/");
    }
    return json;
}

std::string destination_label(const DestinationOccupancy& destination) {
    return fmt::format("{}/{}", format_endpoint(destination.server),
                       to_string(destination.protocol));
}

bool is_failure(const ConnectionRecord& record) {
    const ConnectionState state = record.state();
    return state == ConnectionState::refused || state == ConnectionState::unanswered;
}

// At most max_points_per_client connections: an even sample, plus every failure and the lowest
// and highest port, so the picture keeps its extremes.
std::vector<const ConnectionRecord*> sample_points(
    const std::vector<const ConnectionRecord*>& all) {
    if (all.size() <= max_points_per_client) return all;
    const std::size_t stride = (all.size() + max_points_per_client - 1) / max_points_per_client;
    const auto by_port = [](const ConnectionRecord* a, const ConnectionRecord* b) {
        return a->client_port() < b->client_port();
    };
    const ConnectionRecord* lowest = *std::min_element(all.begin(), all.end(), by_port);
    const ConnectionRecord* highest = *std::max_element(all.begin(), all.end(), by_port);
    std::vector<const ConnectionRecord*> kept;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const ConnectionRecord* record = all[i];
        if (i % stride == 0 || is_failure(*record) || record == lowest || record == highest) {
            kept.push_back(record);
        }
    }
    return kept;
}

// The reuse intervals' bins (reuse_interval_edges), one count per bin for each kind of reuse, as
// the JSON report counts them.
ordered_json interval_histogram(const ReuseStats& reuse, double time_wait_s) {
    const std::vector<double> edges = reuse_interval_edges(time_wait_s);
    const auto counts = [&](ReuseKind kind) {
        const auto& bins = reuse.interval_bins[static_cast<std::size_t>(kind)];
        return std::vector<std::uint64_t>(bins.begin(), bins.begin() + edges.size());
    };
    return {{"edges", edges},
            {"tuple_in_time_wait", counts(ReuseKind::tuple_in_time_wait)},
            {"tuple_after_time_wait", counts(ReuseKind::tuple_after_time_wait)},
            {"other_service", counts(ReuseKind::other_service)},
            {"time_wait_s", time_wait_s}};
}

ordered_json client_data(const ClientSummary& client, const ConnectionRecords& records,
                         const std::vector<const ConnectionRecord*>& connections,
                         const Report& report, Micros t0) {
    const ClientPorts& use = client.port_use;
    const auto seconds = [t0](Micros time) { return static_cast<double>(time - t0) / 1e6; };
    std::map<std::pair<Endpoint, Protocol>, int> destination_index;
    ordered_json destinations = ordered_json::array();
    ordered_json occupancy = ordered_json::array();
    for (const DestinationOccupancy& destination : use.exhaustion.destinations) {
        if (destination.occupied_series.empty()) break;  // only the worst ones carry a series
        const int index = static_cast<int>(destinations.size());
        destination_index[{destination.server, destination.protocol}] = index;
        destinations.push_back(destination_label(destination));
        ordered_json series = ordered_json::array();
        for (const auto& [time, occupied] : destination.occupied_series) {
            series.push_back({seconds(time), occupied});
        }
        occupancy.push_back({{"service", index},
                             {"peak", destination.peak_occupied},
                             {"peak_at", seconds(destination.peak_at)},
                             {"series", series}});
    }
    ordered_json points = ordered_json::array();
    for (const ConnectionRecord* record : sample_points(connections)) {
        const auto found = destination_index.find({records.server(*record), record->protocol});
        const int destination = found == destination_index.end() ? -1 : found->second;
        points.push_back({seconds(record->first_seen), record->client_port(), destination,
                          static_cast<int>(record->state()),
                          record->protocol == Protocol::tcp ? "tcp" : "udp"});
    }
    const double size = use.range.limit();
    return {
        {"address", (client.segment.empty() ? to_string(client.address)
                                            : to_string(client.address) + '%' + client.segment)},
        {"verdict", verdict_name(use.exhaustion.verdict)},
        {"range",
         {{"low", use.range.range.low},
          {"high", use.range.range.high},
          {"basis", use.range.basis_name()},
          {"evidence", evidence_name(use.range.evidence)},
          {"size", use.range.limit()}}},
        {"thresholds",
         {report.warning_at * size, report.critical_at * size, report.exhausted_at * size}},
        {"services", destinations},
        {"service_count", use.exhaustion.destinations.size()},
        {"points", points},
        {"points_total", connections.size()},
        {"occupancy", occupancy},
        {"intervals", interval_histogram(use.reuse, use.exhaustion.time_wait_s)}};
}

void append_summary(std::string& out, const Report& report) {
    const CaptureSummary& capture = report.capture;
    out += "<section class=\"summary\"><h1>ephemera: ephemeral port report</h1><p>";
    for (const CaptureSummary::File& file : capture.files) {
        fmt::format_to(std::back_inserter(out), "<code>{}</code> ({}, {} packets) ",
                       escape_html(file.path == "-" ? "<stdin>" : file.path),
                       escape_html(file.link_type), file.packets);
    }
    fmt::format_to(std::back_inserter(out),
                   "</p><p>{} packets from {} to {} UTC ({:.3f} s); {} TCP connections, {} UDP "
                   "flows, {} client{}.</p>",
                   capture.packets, capture.packets ? format_utc(capture.first) : "-",
                   capture.packets ? format_utc(capture.last) : "-",
                   static_cast<double>(capture.last - capture.first) / 1e6, report.tcp_connections,
                   report.udp_flows, report.clients.size(), report.clients.size() == 1 ? "" : "s");
    const std::vector<std::string> findings = finding_sentences(report);
    if (findings.empty()) {
        fmt::format_to(std::back_inserter(out), "<h2>Findings</h2><p class=\"nothing\">{}</p>",
                       nothing_to_report);
    } else {
        out += "<h2>Findings, worst first</h2>";
    }
    out += "<ol class=\"findings\">";
    for (const std::string& finding : findings) {
        fmt::format_to(std::back_inserter(out), "<li>{}</li>", escape_html(finding));
    }
    out += "</ol></section>";
}

void append_destination_table(std::string& out, const ClientPorts& use, std::size_t limit) {
    out +=
        "<table><tr><th>service</th><th>connections</th><th>peak open</th><th>peak "
        "occupied</th><th>of range</th><th>utilization</th><th>peak new/s</th><th>sustainable "
        "new/s</th><th>verdict</th></tr>";
    const std::size_t shown = std::min(limit, use.exhaustion.destinations.size());
    for (std::size_t i = 0; i < shown; ++i) {
        const DestinationOccupancy& d = use.exhaustion.destinations[i];
        fmt::format_to(
            std::back_inserter(out),
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{:.1f}%</td><td>{:.0f}</td><td>{}</td><td>{}</td></tr>",
            verdict_name(d.verdict), escape_html(destination_label(d)), d.connections, d.peak_open,
            d.peak_occupied, use.range.limit(), d.utilization * 100, d.peak_new_per_s,
            d.protocol == Protocol::tcp ? fmt::format("{:.3g}", d.sustainable_new_per_s) : "-",
            verdict_name(d.verdict));
    }
    out += "</table>";
}

// "41000-41015 (16 ports, seen cycling)", "32768-60999 (linux's default, assumed: ...)".
std::string range_words(const RangeEstimate& range) {
    switch (range.evidence) {
        case RangeEvidence::none:
            return "unknown: no ephemeral port was seen in use";
        case RangeEvidence::configured:
            return fmt::format("{}-{} ({} ports, configured)", range.range.low, range.range.high,
                               range.range.size());
        case RangeEvidence::gateway:
            return fmt::format("{}: {} connections at once per service", range.basis_name(),
                               range.capacity);
        case RangeEvidence::cycled:
            return fmt::format("{}-{} ({} ports, {}: the ports were used over and over)",
                               range.range.low, range.range.high, range.range.size(),
                               range.basis_name());
        case RangeEvidence::os_default:
            return fmt::format(
                "{}-{} ({}'s default, assumed from {} ports each used about once{})",
                range.range.low, range.range.high, range.basis_name(), range.ports_seen,
                range.fits.size() > 1 ? fmt::format("; {} defaults fit", range.fits.size()) : "");
        case RangeEvidence::estimated:
            return fmt::format("{}-{} (estimated from {} ports: no default holds them)",
                               range.range.low, range.range.high, range.ports_seen);
    }
    return "";
}

void append_client(std::string& out, const ClientSummary& client, std::size_t index,
                   std::size_t destinations) {
    const ClientPorts& use = client.port_use;
    fmt::format_to(
        std::back_inserter(out),
        "<section class=\"client {}\"><h2>{} <span class=\"verdict\">{}</span></h2>"
        "<p>{} TCP connections, {} UDP flows from {} ports. Range {}; allocation {}{}; "
        "TIME_WAIT {:.0f} s.</p>",
        verdict_name(use.exhaustion.verdict),
        escape_html((client.segment.empty() ? to_string(client.address)
                                            : to_string(client.address) + '%' + client.segment)),
        verdict_name(use.exhaustion.verdict), client.tcp_connections, client.udp_flows,
        client.ports.distinct, escape_html(range_words(use.range)),
        escape_html(allocation_words(use.allocation)),
        use.allocation.os_hint.empty()
            ? ""
            : ", like " + escape_html(profile_names(use.allocation.os_hint)),
        use.exhaustion.time_wait_s);
    for (const char* plot : {"ports", "occupancy", "intervals"}) {
        fmt::format_to(std::back_inserter(out),
                       "<div class=\"plot\"><canvas id=\"{}-{}\" data-client=\"{}\" "
                       "data-plot=\"{}\"></canvas></div>",
                       plot, index, index, plot);
    }
    append_destination_table(out, use, destinations);
    out += "</section>";
}

}  // namespace

std::string render_html(const Report& report, const ConnectionRecords& records,
                        const ReportOptions& options) {
    std::map<Address, std::vector<const ConnectionRecord*>> by_client;
    for (const ConnectionRecord& record : records)
        by_client[records.address(record.client_host())].push_back(&record);

    const Micros t0 = report.capture.first;
    ordered_json defaults = ordered_json::array();
    for (const RangeDefault& entry : range_defaults()) {
        defaults.push_back(
            {{"basis", entry.basis}, {"low", entry.range.low}, {"high", entry.range.high}});
    }
    ordered_json states = ordered_json::array();
    for (int state = 0; state <= static_cast<int>(ConnectionState::expired); ++state) {
        states.push_back(state_name(static_cast<ConnectionState>(state)));
    }
    ordered_json clients = ordered_json::array();
    std::string body;
    append_summary(body, report);
    const std::size_t shown = std::min(options.top, report.clients.size());
    for (std::size_t i = 0; i < shown; ++i) {
        const ClientSummary& client = report.clients[i];
        // The log holds connections in the order they ended; the plots want them as they
        // started. Only the clients shown are sorted, not the whole log.
        std::vector<const ConnectionRecord*>& connections = by_client[client.address];
        sort_by_start(records, connections);
        clients.push_back(client_data(client, records, connections, report, t0));
        append_client(body, client, i, options.destinations);
    }
    if (shown < report.clients.size()) {
        fmt::format_to(std::back_inserter(body),
                       "<p class=\"hint\">{} more clients not shown (--top).</p>",
                       report.clients.size() - shown);
    }
    // The data moves into the document rather than being copied there, and the document goes
    // once it is text: the plots' points are most of the report's memory at its peak.
    std::string data_text;
    {
        const ordered_json data = {
            {"t0", static_cast<double>(t0) / 1e6},
            {"capture_end", static_cast<double>(report.capture.last - t0) / 1e6},
            {"states", std::move(states)},
            {"failed_states",
             {static_cast<int>(ConnectionState::refused),
              static_cast<int>(ConnectionState::unanswered)}},
            {"defaults", std::move(defaults)},
            {"clients", std::move(clients)},
        };
        data_text =
            script_safe(data.dump(-1, ' ', false, decltype(data)::error_handler_t::replace));
    }

    std::string html;
    const auto length = [](const char* text) { return std::char_traits<char>::length(text); };
    html.reserve(body.size() + data_text.size() + length(report_style) + length(report_script) + 2 +
                 length(chartjs_source) + length(chartjs_license) + 1'000);  // and the tags
    html +=
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>ephemera report</title><style>\n";
    html += report_style;
    html += "</style></head><body>";
    html += body;
    html +=
        "<p class=\"hint\">Drag across a plot to zoom into that time span; double-click to "
        "reset. Hover a point for its time, port, service and state.</p>";
    html += "<script type=\"application/json\" id=\"ephemera-data\">";
    html += data_text;
    html += "</script>\n<!-- Chart.js, embedded from Debian's libjs-chart.js. Its licence:\n";
    std::string license = chartjs_license;
    for (std::size_t at = license.find("--"); at != std::string::npos;
         at = license.find("--", at)) {
        license.replace(at, 2, "- -");
    }
    html += license;
    html += "\n-->\n<script>";
    html += chartjs_source;
    html += "</script>\n<script>\n";
    html += report_script;
    html += "</script></body></html>\n";
    return html;
}

}  // namespace ephemera
