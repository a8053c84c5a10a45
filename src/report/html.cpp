// The HTML report: one self-contained file. Chart.js (from Debian's libjs-chart.js) and its licence
// are embedded at build time; the data travels as one JSON block; a short script draws the plots.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ephemera/report/report.hpp"

extern const char chartjs_source[];
extern const char chartjs_license[];

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
    const ConnectionState state = record.connection.state();
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

// Log-spaced bins with TIME_WAIT as one of the edges, so the plot splits there; one count per
// bin for each kind of reuse, as the JSON report counts them.
ordered_json interval_histogram(const ReuseStats& reuse, double time_wait_s) {
    std::vector<double> edges = {
        0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, time_wait_s, 2 * time_wait_s, 5 * time_wait_s};
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    // Indexed by ReuseKind; the last bin is open-ended.
    std::array<std::vector<std::uint64_t>, 3> counts;
    for (auto& kind : counts) kind.assign(edges.size(), 0);
    for (std::size_t i = 0; i < reuse.port_reuse_intervals_s.size(); ++i) {
        const double interval = reuse.port_reuse_intervals_s[i];
        const auto bin = std::upper_bound(edges.begin(), edges.end(), interval) - edges.begin() - 1;
        ++counts[static_cast<std::size_t>(reuse.port_reuse_kinds[i])]
                [static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, bin))];
    }
    return {{"edges", edges},
            {"tuple_in_time_wait", counts[0]},
            {"tuple_after_time_wait", counts[1]},
            {"other_service", counts[2]},
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
        const auto found =
            destination_index.find({records.server(*record), record->connection.protocol});
        const int destination = found == destination_index.end() ? -1 : found->second;
        points.push_back({seconds(record->connection.first_seen), record->client_port(),
                          destination, static_cast<int>(record->connection.state()),
                          record->connection.protocol == Protocol::tcp ? "tcp" : "udp"});
    }
    const double size = use.range.range.size();
    return {
        {"address", (client.segment.empty() ? to_string(client.address)
                                            : to_string(client.address) + '%' + client.segment)},
        {"verdict", verdict_name(use.exhaustion.verdict)},
        {"range",
         {{"low", use.range.range.low},
          {"high", use.range.range.high},
          {"basis", use.range.basis},
          {"evidence", evidence_name(use.range.evidence)},
          {"size", use.range.range.size()}}},
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
    const std::vector<std::string> findings = findings_worst_first(report);
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
            d.peak_occupied, use.range.range.size(), d.utilization * 100, d.peak_new_per_s,
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
        case RangeEvidence::cycled:
            return fmt::format("{}-{} ({} ports, {}: the ports were used over and over)",
                               range.range.low, range.range.high, range.range.size(), range.basis);
        case RangeEvidence::os_default:
            return fmt::format(
                "{}-{} ({}'s default, assumed from {} ports each used about once{})",
                range.range.low, range.range.high, range.basis, range.ports_seen,
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

constexpr const char* style = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.5em; }
.findings li { margin: .3em 0; }
.client { border-top: 2px solid #ddd; margin-top: 2em; }
.verdict { font-size: .8em; padding: .1em .5em; border-radius: .3em; background: #e6f4ea; }
.client.warning .verdict, tr.warning td:last-child { background: #fff4ce; }
.client.critical .verdict, tr.critical td:last-child { background: #fde2c8; }
.client.exhausted .verdict, tr.exhausted td:last-child { background: #f8c9c4; }
.client.unknown .verdict, tr.unknown td:last-child { background: #eee; color: #555; }
.nothing { color: #2a6f3b; }
.plot { position: relative; height: 320px; margin: 1em 0; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: .25em .6em; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.hint { color: #666; font-size: .9em; }
)css";

// Draws the three plots of every client. Bands and lines are a small Chart.js plugin; zoom is a
// drag across a plot (double-click resets). When done, each canvas records how many points it
// drew and how much it inked, and <body> whether the page is ready and which errors occurred.
constexpr const char* script = R"js(
(function () {
  const errors = [];
  const note = (m) => { errors.push(String(m)); document.body.dataset.errors = errors.join(' | '); };
  window.addEventListener('error', (e) => note(e.message));
  const data = JSON.parse(document.getElementById('ephemera-data').textContent);
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
  const dashes = [[], [8, 4], [2, 3], [12, 3, 2, 3]];
  // Times as the text report writes them: to the microsecond, in UTC.
  const when = (t) => {
    const total = data.t0 + t, whole = Math.floor(total);
    const micros = String(Math.min(999999, Math.round((total - whole) * 1e6))).padStart(6, '0');
    return new Date(whole * 1000).toISOString().slice(0, 19).replace('T', ' ') + '.' + micros + ' UTC';
  };
  // Ports are integers, written without thousands separators; log axes show powers of ten.
  // The axis ends are ticks too: shown only where they fall on the ticks' step.
  const portTick = (v, i, ticks) => {
    if (!Number.isInteger(v)) return '';
    if ((i === 0 || i === ticks.length - 1) && ticks.length > 3) {
      const step = ticks[2].value - ticks[1].value;
      if (v % step !== 0) return '';
    }
    return String(v);
  };
  const powerTick = (v) => { const e = Math.log10(v); return Math.abs(e - Math.round(e)) < 1e-9 ? String(Math.round(v)) : ''; };
  // Labels the marks plugin drew, per chart, so that none is drawn over another.
  function placeLabel(chart, ctx, text, x, y) {
    const placed = chart.$labels || (chart.$labels = []);
    const w = ctx.measureText(text).width, h = 12;
    let top = y - h;
    for (let tries = 0; tries < 20; ++tries) {
      const clash = placed.find((b) => x < b.x + b.w && b.x < x + w && top < b.y + b.h && b.y < top + h);
      if (!clash) break;
      top = clash.y - h - 1;  // above the label it would cover
      if (top < chart.chartArea.top) { top = clash.y + clash.h + 1; }
    }
    placed.push({ text, x, y: top, w, h });
    ctx.fillText(text, x, top + h - 2);
  }
  Chart.register({
    id: 'marks',
    beforeDatasetsDraw(chart, args, options) {
      const { ctx, chartArea: area, scales } = chart;
      chart.$labels = [];
      ctx.save();
      ctx.font = '11px sans-serif';
      for (const band of options.yBands || []) {  // the inferred range: a light fill
        const top = Math.max(area.top, scales.y.getPixelForValue(band.to));
        const bottom = Math.min(area.bottom, scales.y.getPixelForValue(band.from));
        if (bottom <= top) continue;
        ctx.fillStyle = band.color;
        ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      }
      const lines = (options.yLines || []).slice().sort((a, b) => b.value - a.value);
      for (const line of lines) {
        const y = scales.y.getPixelForValue(line.value);
        if (y < area.top || y > area.bottom) continue;
        ctx.strokeStyle = line.color; ctx.lineWidth = line.width || 1; ctx.setLineDash(line.dash || []);
        ctx.beginPath(); ctx.moveTo(area.left, y); ctx.lineTo(area.right, y); ctx.stroke();
        ctx.fillStyle = line.color;
        const x = line.left ? area.left + 4 : area.right - ctx.measureText(line.label).width - 4;
        placeLabel(chart, ctx, line.label, x, y - 1);
      }
      for (const line of options.xLines || []) {
        const x = scales.x.getPixelForValue(line.value);
        if (x < area.left || x > area.right) continue;
        ctx.strokeStyle = line.color; ctx.lineWidth = 1; ctx.setLineDash([6, 4]); ctx.beginPath();
        ctx.moveTo(x, area.top); ctx.lineTo(x, area.bottom); ctx.stroke();
        ctx.fillStyle = line.color;
        placeLabel(chart, ctx, line.label, x + 4, area.top + 14);
      }
      ctx.restore();
    },
  });
  function zoomable(chart) {
    const canvas = chart.canvas;
    let from = null;
    canvas.addEventListener('mousedown', (e) => { from = chart.scales.x.getValueForPixel(e.offsetX); });
    canvas.addEventListener('mouseup', (e) => {
      const to = chart.scales.x.getValueForPixel(e.offsetX);
      if (from !== null && Math.abs(to - from) > 1e-6) {
        chart.options.scales.x.min = Math.min(from, to);
        chart.options.scales.x.max = Math.max(from, to);
        chart.update();
      }
      from = null;
    });
    canvas.addEventListener('dblclick', () => {
      delete chart.options.scales.x.min; delete chart.options.scales.x.max; chart.update();
    });
  }
  const seconds = () => ({ type: 'linear', title: { display: true, text: 'seconds since ' + when(0) } });
  const common = { animation: false, maintainAspectRatio: false, parsing: false };
  function portsChart(canvas, client) {
    const sets = client.services.map((name, i) => ({ label: name, data: [], backgroundColor: palette[i % palette.length], pointRadius: 2.5 }));
    const others = client.service_count - client.services.length;
    const other = { label: others + ' more services', data: [], backgroundColor: '#999', pointRadius: 2 };
    const failed = { label: 'failed attempts', data: [], backgroundColor: '#d62728', pointStyle: 'crossRot', pointRadius: 5, borderColor: '#d62728' };
    for (const [t, port, d, state, protocol] of client.points) {
      const point = { x: t, y: port, state: data.states[state], protocol, service: d < 0 ? 'another service' : client.services[d] };
      if (state === data.failed_states[0] || state === data.failed_states[1]) failed.data.push(point);
      else (d < 0 ? other : sets[d]).data.push(point);
    }
    const datasets = sets.concat([other, failed]).filter((s) => s.data.length > 0);
    const ports = client.points.map((p) => p[1]);
    const known = client.range.size > 0 && client.range.evidence !== 'none';
    const low = Math.min(known ? client.range.low : 65535, ...ports), high = Math.max(known ? client.range.high : 0, ...ports);
    const pad = Math.max(8, Math.round((high - low) * 0.05));
    const min = Math.max(0, Math.floor(low - pad)), max = Math.min(65535, Math.ceil(high + pad));
    // OS defaults as dashed lines at their edges in view, labelled at the left: no fill, so the
    // points stay readable where several overlap.
    const lines = [];
    for (const r of data.defaults) {
      for (const [edge, which] of [[r.low, 'low'], [r.high, 'high']]) {
        if (edge >= min && edge <= max) lines.push({ value: edge, color: '#888', dash: [3, 3], left: true, label: r.basis + ' default ' + which + ' ' + edge });
      }
    }
    const bands = known ? [{ from: client.range.low, to: client.range.high, color: 'rgba(31,119,180,0.10)' }] : [];
    if (known) {
      lines.push({ value: client.range.high, color: '#1f77b4', label: 'range ' + client.range.low + '-' + client.range.high + ' (' + client.range.basis + ')' });
    }
    return new Chart(canvas, { type: 'scatter', data: { datasets }, options: { ...common,
      plugins: { title: { display: true, text: 'Source port of each connection over time (' + client.points.length + ' of ' + client.points_total + ' shown)' },
        marks: { yBands: bands, yLines: lines },
        tooltip: { callbacks: { label: (c) => when(c.raw.x) + '  port ' + c.raw.y + ' -> ' + c.raw.service + ' (' + c.raw.protocol + ', ' + c.raw.state + ')' } } },
      scales: { x: seconds(), y: { min, max, ticks: { precision: 0, callback: portTick }, title: { display: true, text: 'source port' } } } } });
  }
  function occupancyChart(canvas, client) {
    const end = data.capture_end;
    const n = client.occupancy.length;
    // Identical lines must not hide each other: each is wider than the one drawn over it, and
    // dashed its own way.
    const datasets = client.occupancy.map((o, i) => ({ label: client.services[o.service] + ' (peak ' + o.peak + ' at ' + when(o.peak_at) + ')',
      data: o.series.map(([x, y]) => ({ x, y })), stepped: 'before', tension: 0,
      borderColor: palette[o.service % palette.length], backgroundColor: palette[o.service % palette.length],
      borderWidth: 2 + 2 * (n - 1 - i), borderDash: dashes[i % dashes.length],
      // After the capture ends, what TIME_WAIT still holds is a projection: dotted.
      segment: { borderDash: (c) => (c.p0.parsed.x >= end ? [2, 4] : dashes[i % dashes.length]) },
      pointRadius: (c) => (c.raw && c.raw.x === o.peak_at ? 6 : 0), order: n - i }));
    const size = client.range.size;
    const [warning, critical] = client.thresholds;
    // Far from exhaustion a linear axis up to the range flattens every line: go logarithmic,
    // so the lines and the range both show.
    const peak = Math.max(1, ...client.occupancy.map((o) => o.peak));
    const y = peak * 20 < size
      ? { type: 'logarithmic', min: 0.8, max: size * 1.5, ticks: { callback: powerTick }, title: { display: true, text: 'occupied ports (log scale)' } }
      : { min: 0, max: Math.ceil(size * 1.08), ticks: { precision: 0, callback: portTick }, title: { display: true, text: 'occupied ports' } };
    return new Chart(canvas, { type: 'line', data: { datasets }, options: { ...common,
      plugins: { title: { display: true, text: 'Ports occupied (open + TIME_WAIT) per service, against the range; dotted after the capture ends: TIME_WAIT still to run' },
        marks: { yLines: [{ value: size, color: '#d62728', width: 2, label: 'range: ' + size + ' ports' },
                          { value: critical, color: '#ff7f0e', dash: [6, 4], label: 'critical' },
                          { value: warning, color: '#bcbd22', dash: [6, 4], label: 'warning' }],
                 xLines: [{ value: end, color: '#555', label: 'capture ends' }] } },
      scales: { x: seconds(), y } } });
  }
  function intervalsChart(canvas, client) {
    const h = client.intervals;
    const total = (a) => a.reduce((x, y) => x + y, 0);
    if (total(h.tuple_in_time_wait) + total(h.tuple_after_time_wait) + total(h.other_service) === 0) {
      const p = document.createElement('p');
      p.className = 'no-reuse';
      p.textContent = 'No source port was used twice by ' + client.address + ' in this capture: nothing to plot.';
      canvas.parentElement.replaceWith(p);
      return null;
    }
    const labels = h.edges.map((e, i) => i + 1 < h.edges.length ? e + '-' + h.edges[i + 1] + ' s' : '>= ' + e + ' s');
    const tw = h.edges.indexOf(h.time_wait_s);
    const datasets = [
      { label: 'same 4-tuple within TIME_WAIT', data: h.tuple_in_time_wait, backgroundColor: '#d62728' },
      { label: 'same 4-tuple after TIME_WAIT', data: h.tuple_after_time_wait, backgroundColor: '#ff9896' },
      { label: 'same port, another service', data: h.other_service, backgroundColor: '#7f7f7f' }];
    return new Chart(canvas, { type: 'bar', data: { labels, datasets },
      options: { animation: false, maintainAspectRatio: false,
        plugins: { title: { display: true, text: 'Time from a port\'s last use to its reuse, by kind of reuse' },
          marks: { xLines: [{ value: tw - 0.5, color: '#d62728', label: 'TIME_WAIT ' + h.time_wait_s + ' s' }] } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'reuses' } } } } });
  }
  // What a chart drew, from the chart itself: its datasets (label, colour, sum or count), the
  // tick labels Chart.js made, and the labels the marks plugin placed. Tests read this.
  function describe(chart) {
    const sum = (d) => d.data.reduce((n, v) => n + (typeof v === 'number' ? v : 1), 0);
    return JSON.stringify({
      datasets: chart.data.datasets.map((d) => ({ label: d.label, color: d.borderColor || d.backgroundColor,
        total: sum(d), points: d.data.length, stepped: d.stepped || false, width: d.borderWidth || 0, dash: d.borderDash || [] })),
      y_ticks: chart.scales.y.ticks.map((t) => t.label).filter((l) => l !== ''),
      y_type: chart.scales.y.type,
      labels: (chart.$labels || []).map((b) => ({ text: b.text, x: b.x, y: b.y, w: b.w, h: b.h })),
      legend: chart.legend ? chart.legend.legendItems.map((i) => i.text) : [],
    });
  }
  const draw = { ports: portsChart, occupancy: occupancyChart, intervals: intervalsChart };
  for (const canvas of document.querySelectorAll('canvas[data-plot]')) {
    try {
      const chart = draw[canvas.dataset.plot](canvas, data.clients[Number(canvas.dataset.client)]);
      if (chart === null) continue;
      if (canvas.dataset.plot !== 'intervals') zoomable(chart);
      canvas.dataset.points = chart.data.datasets.reduce((n, s) => n + s.data.length, 0);
      canvas.dataset.chart = describe(chart);
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let ink = 0;
      for (let i = 3; i < pixels.length; i += 16) if (pixels[i] > 0) ink++;
      canvas.dataset.ink = ink;
    } catch (e) { note(canvas.id + ': ' + e.message); }
  }
  document.body.dataset.ready = 'true';
})();
)js";

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
    html.reserve(body.size() + data_text.size() + length(style) + length(script) +
                 length(chartjs_source) + length(chartjs_license) + 1'000);  // and the tags
    html +=
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>ephemera report</title><style>";
    html += style;
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
    html += "</script>\n<script>";
    html += script;
    html += "</script></body></html>\n";
    return html;
}

}  // namespace ephemera
