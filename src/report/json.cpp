#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "ephemera/analysis/two_cores.hpp"
#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

using nlohmann::ordered_json;

// Seconds since the epoch; a double holds microseconds exactly enough at today's dates.
double epoch_seconds(Micros time) {
    return static_cast<double>(time) / 1e6;
}

ordered_json state_counts(const std::array<std::uint64_t, 7>& states) {
    ordered_json counts = ordered_json::object();
    for (std::size_t state = 0; state < states.size(); ++state) {
        if (states[state] != 0) {
            counts[std::string(state_name(static_cast<ConnectionState>(state)))] = states[state];
        }
    }
    return counts;
}

ordered_json capture_json(const CaptureSummary& capture) {
    ordered_json inputs = ordered_json::array();
    for (const CaptureSummary::File& file : capture.files) {
        inputs.push_back({{"path", file.path},
                          {"link_type", file.link_type},
                          {"packets", file.packets},
                          {"sections", file.sections},
                          {"compression", file.compression},
                          {"complete", file.stopped.empty()},
                          {"bytes_unread", file.bytes_unread}});
    }
    ordered_json skipped = ordered_json::object();
    for (std::size_t reason = 1; reason < decode_status_count; ++reason) {
        skipped[std::string(reason_name(static_cast<DecodeStatus>(reason)))] =
            capture.skipped[reason];
    }
    ordered_json result = {{"inputs", inputs},
                           {"packets", capture.packets},
                           {"decoded", capture.decoded},
                           {"first_at", nullptr},
                           {"last_at", nullptr},
                           {"duration_s", 0.0},
                           {"skipped", skipped},
                           {"duplicates", capture.duplicates},
                           {"backward_steps", capture.backward_steps},
                           {"tracker",
                            {{"max_connections", capture.max_connections},
                             {"evicted_half_open", capture.evicted_half_open},
                             {"evicted_other", capture.evicted_other}}}};
    // An empty capture has no first or last packet, and lasted no time.
    if (capture.packets > 0) {
        result["first_at"] = epoch_seconds(capture.first);
        result["last_at"] = epoch_seconds(capture.last);
        result["duration_s"] = epoch_seconds(capture.last - capture.first);
    }
    if (capture.live) {
        result["drops"] = {{"kernel", capture.kernel_drops},
                           {"interface", capture.interface_drops}};
    }
    return result;
}

// Ratios and rates to four decimals, so reports diff cleanly.
double rounded(double value) {
    return std::round(value * 1e4) / 1e4;
}

ordered_json allocation_json(const AllocationFingerprint& allocation) {
    return {
        {"pattern", pattern_name(allocation.pattern)},
        {"confidence", rounded(allocation.confidence)},
        {"even_share", rounded(allocation.even_share)},
        {"os_hint", profile_names(allocation.os_hint)},
        {"os_hint_note", allocation.dropped_hint.empty() ? ordered_json(nullptr)
                                                         : ordered_json(os_hint_note(allocation))},
        {"samples", allocation.samples},
        {"unknown_because", allocation.unknown_because == UnknownBecause::known
                                ? ordered_json(nullptr)
                                : ordered_json(unknown_because_name(allocation.unknown_because))}};
}

ordered_json destination_json(const DestinationOccupancy& destination) {
    return {{"address", to_string(destination.server.address)},
            {"port", destination.server.port},
            {"protocol", to_string(destination.protocol)},
            {"connections", destination.connections},
            {"peak_open", destination.peak_open},
            {"peak_occupied", destination.peak_occupied},
            {"peak_at", epoch_seconds(destination.peak_at)},
            {"occupied_at_end", destination.occupied_at_end},
            {"utilization", rounded(destination.utilization)},
            {"peak_new_per_s", rounded(destination.peak_new_per_s)},
            // UDP has no TIME_WAIT, so no rate its range sustains.
            {"sustainable_new_per_s", destination.protocol == Protocol::tcp
                                          ? ordered_json(rounded(destination.sustainable_new_per_s))
                                          : ordered_json(nullptr)},
            {"verdict", verdict_name(destination.verdict)}};
}

ordered_json range_json(const RangeEstimate& range) {
    const bool known = range.evidence != RangeEvidence::none;
    ordered_json result = {
        {"low", known ? ordered_json(range.range.low) : ordered_json(nullptr)},
        {"high", known ? ordered_json(range.range.high) : ordered_json(nullptr)},
        {"size", known ? range.limit() : 0},
        {"basis", range.basis},
        {"evidence", evidence_name(range.evidence)},
        {"ports_seen", range.ports_seen},
        {"seen_low", known ? ordered_json(range.seen.low) : ordered_json(nullptr)},
        {"seen_high", known ? ordered_json(range.seen.high) : ordered_json(nullptr)},
        {"fits", default_names(range.fits)},
    };
    if (range.evidence == RangeEvidence::configured) result["outside"] = range.outside;
    return result;
}

ordered_json shared_json(const ClientPorts& use) {
    const SharedAddress& shared = use.shared;
    ordered_json evidence = ordered_json::array();
    if (shared.evidence != SharedEvidence::none) {
        evidence.push_back({{"kind", shared_evidence_name(shared.evidence)},
                            {"detail", shared_evidence_words(use)}});
    }
    if (shared.syn_fingerprints >= 2 && shared.evidence != SharedEvidence::syn_fingerprints) {
        evidence.push_back({{"kind", shared_evidence_name(SharedEvidence::syn_fingerprints)},
                            {"detail", fingerprint_words(shared)}});
    }
    const std::string unknown = shared_unknown_words(shared);
    return {{"likely", shared.likely},
            {"hosts_estimate", shared.hosts_estimate >= 2 ? ordered_json(shared.hosts_estimate)
                                                          : ordered_json(nullptr)},
            {"hosts_estimate_is_minimum", shared.hosts_estimate >= 2 && shared.hosts_at_least},
            {"unknown_because", unknown.empty() ? ordered_json(nullptr) : ordered_json(unknown)},
            {"evidence", std::move(evidence)}};
}

ordered_json port_use_json(const ClientPorts& use, std::size_t destinations) {
    ordered_json listed = ordered_json::array();
    for (std::size_t i = 0; i < use.exhaustion.destinations.size() && i < destinations; ++i) {
        listed.push_back(destination_json(use.exhaustion.destinations[i]));
    }
    return {
        {"range", range_json(use.range)},
        {"allocation", allocation_json(use.allocation)},
        {"allocation_udp", allocation_json(use.allocation_udp)},
        {"reuse",
         {{"tuple_reuses", use.reuse.tuple_reuses},
          {"time_wait_reuses", use.reuse.time_wait_reuses},
          {"active_reuses", use.reuse.active_reuses},
          {"port_reuses", use.reuse.port_reuses},
          {"other_service_reuses", use.reuse.port_reuses - use.reuse.tuple_reuses},
          {"time_wait_collisions", use.reuse.time_wait_collisions},
          {"min_port_reuse_interval_s", rounded(use.reuse.min_interval_s)},
          {"median_port_reuse_interval_s", rounded(use.reuse.median_interval_s)}}},
        {"exhaustion",
         {{"peak_open_total", use.exhaustion.peak_open_total},
          {"peak_occupied_total", use.exhaustion.peak_occupied_total},
          {"udp_peak_occupied_total", use.exhaustion.udp_peak_occupied_total},
          {"utilization", rounded(use.exhaustion.utilization)},
          {"verdict", verdict_name(use.exhaustion.verdict)},
          {"time_wait_s", use.exhaustion.time_wait_s},
          {"service_count", use.exhaustion.destinations.size()},
          {"services", std::move(listed)}}},
        {"failures",
         {{"refused", use.failures.refused},
          {"unanswered", use.failures.unanswered},
          {"syn_retransmissions", use.failures.syn_retransmissions}}},
        {"shared", shared_json(use)},
    };
}

// Below this many clients a second thread costs more than it saves.
constexpr std::size_t min_clients_to_share = 64;

// A segment's name, or null without --split-segments or outside any VLAN or tunnel.
ordered_json segment_json(const std::string& segment) {
    return segment.empty() ? ordered_json(nullptr) : ordered_json(segment);
}

ordered_json client_json(const ClientSummary& client, std::size_t destinations) {
    ordered_json entry = {{"address", to_string(client.address)},
                          {"segment", segment_json(client.segment)},
                          {"tcp_connections", client.tcp_connections},
                          {"udp_flows", client.udp_flows},
                          {"ports",
                           {{"distinct", client.ports.distinct},
                            {"min", client.ports.min},
                            {"max", client.ports.max}}},
                          {"service_count", client.servers},
                          {"states", state_counts(client.states)}};
    // Moved in one by one: update() would copy them, every destination of every client.
    ordered_json port_use = port_use_json(client.port_use, destinations);
    for (auto& [key, value] : port_use.items()) entry[key] = std::move(value);
    return entry;
}

ordered_json server_json(const ServerSummary& server) {
    return {{"address", to_string(server.endpoint.address)},
            {"segment", segment_json(server.segment)},
            {"port", server.endpoint.port},
            {"protocol", to_string(server.protocol)},
            {"connections", server.connections},
            {"clients", server.clients},
            {"client_ports", server.client_ports}};
}

// The document's members in order, each built when it is written: the clients' entries, most of
// the document, are left to write_clients.
enum class Member : std::uint8_t {
    schema,
    capture,
    warnings,
    connections,
    clients,
    services,
    scans,
    tunnels,
    nat,
};
inline constexpr std::array<std::pair<Member, const char*>, 9> members = {{
    {Member::schema, "schema"},
    {Member::capture, "capture"},
    {Member::warnings, "warnings"},
    {Member::connections, "connections"},
    {Member::clients, "clients"},
    {Member::services, "services"},
    {Member::scans, "scans"},
    {Member::tunnels, "tunnels"},
    {Member::nat, "nat"},
}};

ordered_json connections_json(const Report& report) {
    ordered_json role_reasons = ordered_json::object();
    for (std::size_t reason = 0; reason < role_reason_count; ++reason) {
        if (report.role_reasons[reason] != 0) {
            role_reasons[std::string(role_reason_name(static_cast<RoleReason>(reason)))] =
                report.role_reasons[reason];
        }
    }
    return {{"tcp", report.tcp_connections},
            {"udp", report.udp_flows},
            {"states", state_counts(report.states)},
            {"role_reasons", std::move(role_reasons)}};
}

ordered_json scans_json(const std::vector<ScanSummary>& scans) {
    ordered_json entries = ordered_json::array();
    for (const ScanSummary& scan : scans) {
        entries.push_back({{"source", to_string(scan.source)},
                           {"hosts", scan.hosts},
                           {"ports", scan.ports},
                           {"probes", scan.probes},
                           {"answered", scan.answered},
                           {"first_at", epoch_seconds(scan.first)},
                           {"last_at", epoch_seconds(scan.last)}});
    }
    return entries;
}

ordered_json tunnels_json(const std::vector<TunnelTally>& tunnels) {
    ordered_json entries = ordered_json::array();
    for (const TunnelTally& tunnel : tunnels) {
        const bool outer_ip = tunnel.outer_source.family != Family::none;
        entries.push_back(
            {{"kind", tunnel_name(tunnel.kind)},
             {"outer", outer_ip ? ordered_json{{"source", to_string(tunnel.outer_source)},
                                               {"destination", to_string(tunnel.outer_destination)}}
                                : ordered_json(nullptr)},
             {"id", tunnel.has_id ? ordered_json(tunnel.id) : ordered_json(nullptr)},
             {"packets", tunnel.packets},
             {"inner_connections", tunnel.inner_connections}});
    }
    return entries;
}

ordered_json nat_json(const std::vector<Translation>& translations) {
    ordered_json entries = ordered_json::array();
    for (const Translation& translation : translations) {
        ordered_json inside = ordered_json::array();
        for (const InsideHost& host : translation.inside_hosts) {
            inside.push_back({{"address", to_string(host.address)},
                              {"connections", host.connections},
                              {"peak_ports", host.peak_ports},
                              {"port_share", rounded(host.port_share)}});
        }
        entries.push_back({{"outside", to_string(translation.outside)},
                           {"inside_hosts", std::move(inside)},
                           {"mapping", mapping_name(translation.mapping)},
                           {"paired", translation.paired},
                           {"unpaired", translation.unpaired}});
    }
    return entries;
}

// Every member but the clients.
ordered_json member_json(Member member, const Report& report) {
    switch (member) {
        case Member::schema:
            return report_schema;
        case Member::capture:
            return capture_json(report.capture);
        case Member::warnings:
            return report.warnings;
        case Member::connections:
            return connections_json(report);
        case Member::services: {
            ordered_json servers = ordered_json::array();
            for (const ServerSummary& server : report.servers)
                servers.push_back(server_json(server));
            return servers;
        }
        case Member::scans:
            return scans_json(report.scans);
        case Member::tunnels:
            return tunnels_json(report.capture.tunnels);
        case Member::nat:
            return nat_json(report.translations);
        case Member::clients:
            break;
    }
    return ordered_json::array();
}

// The whole document at once, for the one-line form of live's final report: a live window's
// clients are few.
ordered_json report_document(const Report& report, const ReportOptions& options) {
    ordered_json document = ordered_json::object();
    for (const auto& [member, key] : members) {
        if (member != Member::clients) {
            document[key] = member_json(member, report);
            continue;
        }
        ordered_json clients = ordered_json::array();
        for (const ClientSummary& client : report.clients) {
            clients.push_back(client_json(client, options.destinations));
        }
        document[key] = std::move(clients);
    }
    return document;
}

// Writes `text` (as dump(2) writes a value) where it sits `depth` levels deep in a document
// dumped with an indent of 2: every line after the first indented by 2 * depth spaces. JSON text
// has no newline but those between its lines (strings escape theirs).
void write_indented(std::FILE* out, const std::string& text, int depth) {
    const std::string indent(static_cast<std::size_t>(2 * depth), ' ');
    std::size_t start = 0;
    for (std::size_t newline; (newline = text.find('\n', start)) != std::string::npos;
         start = newline + 1) {
        std::fwrite(text.data() + start, 1, newline + 1 - start, out);
        std::fwrite(indent.data(), 1, indent.size(), out);
    }
    std::fwrite(text.data() + start, 1, text.size() - start, out);
}

std::string dumped(const ordered_json& value) {
    return value.dump(2, ' ', false, ordered_json::error_handler_t::replace);
}

// Clients per batch: each batch's entries are built and dumped on two cores, written, and let
// go, so the document is never held whole.
constexpr std::size_t clients_per_batch = 4096;

// The clients' array, as dump(2) would write it one level deep.
void write_clients(std::FILE* out, const ClientList& clients, std::size_t destinations) {
    if (clients.empty()) {
        std::fputs("[]", out);
        return;
    }
    std::fputs("[", out);
    std::array<std::vector<std::string>, 2> halves;
    const char* separator = "\n    ";
    for (std::size_t begin = 0; begin < clients.size(); begin += clients_per_batch) {
        const std::size_t end = std::min(clients.size(), begin + clients_per_batch);
        const std::size_t middle = begin + (end - begin) / 2;
        const auto build = [&](std::size_t half) {
            halves[half].clear();
            const std::size_t last = half == 0 ? middle : end;
            for (std::size_t i = half == 0 ? begin : middle; i < last; ++i) {
                halves[half].push_back(dumped(client_json(clients[i], destinations)));
            }
        };
        run_on_two_cores_if(
            end - begin >= min_clients_to_share, [&] { build(1); }, [&] { build(0); });
        for (const std::vector<std::string>& half : halves) {
            for (const std::string& entry : half) {
                std::fputs(separator, out);
                separator = ",\n    ";
                write_indented(out, entry, 2);
            }
        }
    }
    std::fputs("\n  ]", out);
}

ordered_json destination_now_json(const DestinationNow& destination) {
    return {{"client", to_string(destination.client)},
            {"address", to_string(destination.server.address)},
            {"port", destination.server.port},
            {"protocol", to_string(destination.protocol)},
            {"occupied", destination.occupied},
            {"range_size", destination.range_size},
            {"utilization", rounded(destination.utilization)},
            {"peak_occupied", destination.peak_occupied},
            {"new_per_s", rounded(destination.new_per_s)},
            {"sustainable_new_per_s", rounded(destination.sustainable_per_s)},
            {"verdict", verdict_name(destination.verdict)},
            {"connections_total", destination.connections_total}};
}

ordered_json client_now_json(const ClientNow& client) {
    return {{"address", to_string(client.address)},
            {"started", client.started},
            {"new_per_s", rounded(client.new_per_s)},
            {"open", client.open},
            {"service_count", client.destinations},
            {"range",
             {{"low", client.range.range.low},
              {"high", client.range.range.high},
              {"basis", client.range.basis}}},
            {"utilization", rounded(client.utilization)},
            {"verdict", verdict_name(client.verdict)}};
}

}  // namespace

void write_json(std::FILE* out, const Report& report, const ReportOptions& options) {
    std::fputs("{", out);
    for (const auto& [member, key] : members) {
        fmt::print(out, "{}\n  \"{}\": ", member == Member::schema ? "" : ",", key);
        if (member == Member::clients) {
            write_clients(out, report.clients, options.destinations);
        } else {
            write_indented(out, dumped(member_json(member, report)), 1);
        }
    }
    std::fputs("\n}\n", out);
}

std::string render_json(const Report& report, const ReportOptions& options) {
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* memory = open_memstream(&buffer, &size);
    if (memory == nullptr) throw std::bad_alloc();
    write_json(memory, report, options);
    std::fclose(memory);
    std::string rendered(buffer, size);
    std::free(buffer);
    return rendered;
}

std::string render_json_line(const Report& report, const ReportOptions& options) {
    return report_document(report, options)
               .dump(-1, ' ', false, ordered_json::error_handler_t::replace) +
           "\n";
}

std::string render_live_json(const LiveSnapshot& snapshot, const LiveHealth& health,
                             const ReportOptions& options) {
    ordered_json document = report_document(snapshot.window_report, options);
    ordered_json destinations = ordered_json::array();
    for (std::size_t i = 0; i < snapshot.destinations.size() && i < options.top; ++i) {
        destinations.push_back(destination_now_json(snapshot.destinations[i]));
    }
    ordered_json clients = ordered_json::array();
    for (std::size_t i = 0; i < snapshot.clients.size() && i < options.top; ++i) {
        clients.push_back(client_now_json(snapshot.clients[i]));
    }
    document["live"] = {
        {"interface", health.interface},
        {"now_at", epoch_seconds(snapshot.time)},
        {"started_at", epoch_seconds(snapshot.started)},
        {"window_s", epoch_seconds(snapshot.window)},
        {"packets", health.packets},
        {"packets_per_s", rounded(health.packets_per_s)},
        {"kernel_drops", health.kernel_drops},
        {"interface_drops", health.interface_drops},
        {"open_connections", snapshot.open_connections},
        {"tracked_connections", snapshot.tracked_connections},
        {"tcp_started_total", snapshot.tcp_started_total},
        {"udp_started_total", snapshot.udp_started_total},
        {"service_count", snapshot.destinations.size()},
        {"services", destinations},
        {"clients", clients},
    };
    return document.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace ephemera
