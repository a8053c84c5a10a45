#include "ephemera/analysis/summary.hpp"

#include <algorithm>
#include <bitset>
#include <numeric>
#include <tuple>

#include "ephemera/analysis/nearly_sorted.hpp"
#include "ephemera/analysis/numbering.hpp"
#include "ephemera/analysis/two_cores.hpp"

namespace ephemera {
namespace {

template <typename T>
std::uint32_t count_distinct(std::vector<T>& values) {
    std::sort(values.begin(), values.end());
    return static_cast<std::uint32_t>(std::unique(values.begin(), values.end()) - values.begin());
}

// How many distinct numbers (below a known bound) each group of numbers holds: one mark per
// number, the group that saw it last, so each group costs one pass instead of a sort. Groups are
// told apart by their own numbers.
class DistinctCounter {
  public:
    explicit DistinctCounter(std::size_t numbers) : last_group_(numbers, UINT32_MAX) {}

    std::uint32_t count(std::uint32_t group, const std::vector<std::uint32_t>& values) {
        std::uint32_t distinct = 0;
        for (const std::uint32_t value : values) {
            if (last_group_[value] == group) continue;
            last_group_[value] = group;
            ++distinct;
        }
        return distinct;
    }

  private:
    std::vector<std::uint32_t> last_group_;
};

// A server as the report keys it: TCP and UDP on one address and port are two services.
std::uint64_t service_key(const ConnectionRecord& record) noexcept {
    return std::uint64_t{record.connection.protocol == Protocol::udp} << 48 | record.server_key();
}

struct ClientTally {
    ClientSummary summary;
    std::vector<const ConnectionRecord*> connections;
    std::vector<std::uint16_t> ports;
};

struct ServerTally {
    ServerSummary summary;
    std::vector<std::uint32_t> clients;  // host numbers
    std::vector<std::uint16_t> client_ports;
};

// Distinct ports, lowest and highest, in one pass over a bitmap of the port space.
PortStats port_stats(const std::vector<std::uint16_t>& ports) {
    PortStats stats;
    std::bitset<65536> seen;
    for (const std::uint16_t port : ports) {
        if (seen[port]) continue;
        seen[port] = true;
        if (stats.distinct++ == 0) stats.min = stats.max = port;
        stats.min = std::min(stats.min, port);
        stats.max = std::max(stats.max, port);
    }
    return stats;
}

bool is_probe(const ConnectionActivity& connection) {
    if (connection.protocol != Protocol::tcp || connection.total_bytes() > 0) return false;
    if (connection.total_packets() > 4) return false;
    const ConnectionState state = connection.state();
    return state == ConnectionState::refused || state == ConnectionState::unanswered ||
           state == ConnectionState::reset;
}

struct ScanTally {
    ScanSummary summary;
    std::uint64_t tcp = 0;
    std::vector<std::uint64_t> targets;  // server_key()
};

// Sources that probed at least min_ports distinct ports, with probes the most of what they did,
// in address order. `scanner` is set for each host number found scanning. The same pass over the
// records counts each host's connections as a client, of either protocol, into `per_client`.
std::vector<ScanSummary> find_scans(const ConnectionRecords& records,
                                    const std::vector<std::uint32_t>& hosts_in_order,
                                    const ScanOptions& options, std::vector<bool>& scanner,
                                    std::vector<std::uint32_t>& per_client) {
    std::vector<ScanTally> tallies(records.host_count());
    per_client.assign(records.host_count(), 0);
    for (const ConnectionRecord& record : records) {
        ++per_client[record.client_host()];
        if (record.connection.protocol != Protocol::tcp) continue;
        ScanTally& tally = tallies[record.client_host()];
        ++tally.tcp;
        if (!is_probe(record.connection)) continue;
        ScanSummary& scan = tally.summary;
        const Micros start = record.connection.first_seen;
        scan.first = scan.probes++ == 0 ? start : std::min(scan.first, start);
        scan.last = std::max(scan.last, record.connection.last_seen);
        scan.answered += record.connection.syn_ack_side != no_side;
        tally.targets.push_back(record.server_key());
    }
    std::vector<ScanSummary> scans;
    scanner.assign(records.host_count(), false);
    for (const std::uint32_t source : hosts_in_order) {
        ScanTally& tally = tallies[source];
        if (tally.summary.probes == 0) continue;
        tally.summary.ports = count_distinct(tally.targets);
        if (tally.summary.ports < options.min_ports) continue;
        if (tally.summary.probes < options.min_probe_share * tally.tcp) continue;
        std::vector<std::uint64_t> hosts;
        for (const std::uint64_t target : tally.targets) hosts.push_back(target >> 16);
        tally.summary.hosts = count_distinct(hosts);
        tally.summary.source = records.address(source);
        scans.push_back(tally.summary);
        scanner[source] = true;
    }
    return scans;
}

// Every service number, ordered by protocol (TCP first), then address and port.
std::vector<std::uint32_t> services_in_order(const std::vector<ServerTally>& servers) {
    std::vector<std::uint32_t> order(servers.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        const ServerSummary& first = servers[a].summary;
        const ServerSummary& second = servers[b].summary;
        return std::tie(first.protocol, first.endpoint) <
               std::tie(second.protocol, second.endpoint);
    });
    return order;
}

// Calls analyze(*tally) for every host, on two cores when there is enough to share: hosts are
// analyzed independently, so the result is the same either way.
template <typename Analyze>
void analyze_hosts(const std::vector<ClientTally*>& tallies, const Analyze& analyze) {
    std::size_t connections = 0;
    for (const ClientTally* tally : tallies) connections += tally->connections.size();
    const auto every_other = [&](std::size_t first) {
        for (std::size_t i = first; i < tallies.size(); i += 2) analyze(*tallies[i]);
    };
    run_on_two_cores_if(
        connections >= min_elements_to_share && tallies.size() >= 2, [&] { every_other(1); },
        [&] { every_other(0); });
}

}  // namespace

ConnectionLog::ConnectionLog(std::size_t max_records) : max_records_(max_records) {
    // Address space only (see LargeBufferAllocator): the log fills it without copying itself.
    if (large_buffer::reserving_is_free) {
        records_.reserve(std::min(max_records, std::size_t{1} << 20));
    }
}

namespace {

// How two records' starts compare: by first packet, then endpoints (by side).
std::strong_ordering compare_starts(const ConnectionRecords& records, const ConnectionRecord& a,
                                    const ConnectionRecord& b) noexcept {
    if (auto order = a.connection.first_seen <=> b.connection.first_seen; order != 0) return order;
    for (int side = 0; side < 2; ++side) {
        if (a.host[side] == b.host[side] && a.port[side] == b.port[side]) continue;
        return records.endpoint(a, side) <=> records.endpoint(b, side);
    }
    return std::strong_ordering::equal;
}

}  // namespace

bool starts_before(const ConnectionRecords& records, const ConnectionRecord* a,
                   const ConnectionRecord* b) noexcept {
    // Connections on one 4-tuple starting in the same microsecond keep their order in the log.
    const std::strong_ordering order = compare_starts(records, *a, *b);
    return order != 0 ? order < 0 : a < b;
}

// The first packet's time is copied next to each pointer, so most comparisons need not reach into
// the records.
void sort_by_start(const ConnectionRecords& records,
                   std::vector<const ConnectionRecord*>& connections) {
    std::vector<std::pair<Micros, const ConnectionRecord*>> keyed(connections.size());
    for (std::size_t i = 0; i < connections.size(); ++i) {
        keyed[i] = {connections[i]->connection.first_seen, connections[i]};
    }
    sort_nearly_sorted(keyed, [&](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first < b.first;
        return starts_before(records, a.second, b.second);
    });
    for (std::size_t i = 0; i < connections.size(); ++i) connections[i] = keyed[i].second;
}

std::vector<const ConnectionRecord*> oldest_first(const ConnectionRecords& records) {
    // Pointers, not the records themselves: std::stable_sort of the log took a buffer as large
    // as it (40 MB on the benchmark's capture) and 70 to 90 ms.
    std::vector<const ConnectionRecord*> order(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) order[i] = &records[i];
    sort_by_start(records, order);
    return order;
}

std::span<std::byte> ConnectionLog::space_ahead() noexcept {
    return ephemera::space_ahead(records_.storage(),
                                 (std::size_t{2} << 20) / sizeof(ConnectionRecord));
}

KeptConnection ConnectionLog::kept(std::uint64_t number) noexcept {
    if (number < dropped_ || number - dropped_ >= records_.size()) return {};
    ConnectionRecord& record = records_[number - dropped_];
    return {&record.connection, {records_.endpoint(record, 0), records_.endpoint(record, 1)}};
}

void ConnectionLog::on_connection(const Connection& connection) {
    if (records_.size() >= max_records_) {
        const std::size_t oldest = std::max<std::size_t>(1, records_.size() / 8);
        records_.drop_oldest(oldest);
        dropped_ += oldest;
    }
    assign_role_from_handshake(records_.add(connection));
}

std::string segment_name(const CaptureSummary& capture, std::uint8_t number) {
    if (number == 0 || number > capture.segments.size()) return "";
    std::string name;
    const SegmentPath& path = capture.segments[number - 1];
    for (std::size_t i = 0; i < path.count; ++i) {
        const SegmentHop& hop = path.hops[i];
        if (!name.empty()) name += '/';
        name += hop.kind == TunnelKind::none ? std::string_view("vlan") : tunnel_name(hop.kind);
        if (hop.has_id) name += ':' + std::to_string(hop.id);
    }
    return name;
}

Report build_report(ConnectionRecords& records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options) {
    assign_roles_by_heuristics(records);

    Report report;
    report.capture = std::move(capture);
    report.warnings = std::move(warnings);
    report.warning_at = options.warning_at;
    report.critical_at = options.critical_at;
    report.exhausted_at = options.exhausted_at;

    const std::vector<std::uint32_t> hosts_in_order = records.hosts_in_address_order();
    std::vector<bool> scanner;
    std::vector<std::uint32_t> per_client;
    report.scans = find_scans(records, hosts_in_order, scan_options, scanner, per_client);

    // Tallies indexed by host number; hosts that were never a client keep an empty one.
    std::vector<ClientTally> clients(records.host_count());
    // Each client's services (their numbers, of service_key), apart from the rest of its tally:
    // the two are filled on two cores.
    std::vector<std::vector<std::uint32_t>> services_of(records.host_count());
    // Each host's lists at their final size at once, not grown (and copied) as they fill.
    for (std::size_t number = 0; number < clients.size(); ++number) {
        if (scanner[number]) continue;
        clients[number].connections.reserve(per_client[number]);
        clients[number].ports.reserve(per_client[number]);
        services_of[number].reserve(per_client[number]);
    }
    // A scanner is not a client using up its ports, and its targets are not services.
    const auto tally_clients = [&] {
        for (const ConnectionRecord& record : records) {
            const ConnectionActivity& connection = record.connection;
            const auto state = static_cast<std::size_t>(connection.state());
            const bool tcp = connection.protocol == Protocol::tcp;
            (tcp ? report.tcp_connections : report.udp_flows) += 1;
            ++report.states[state];
            ++report.role_reasons[static_cast<std::size_t>(record.role_reason)];
            if (scanner[record.client_host()]) continue;
            ClientTally& client = clients[record.client_host()];
            (tcp ? client.summary.tcp_connections : client.summary.udp_flows) += 1;
            ++client.summary.states[state];
            client.ports.push_back(record.client_port());
            client.connections.push_back(&record);
        }
    };
    WordNumbering service_numbers;
    std::vector<ServerTally> servers;
    const auto tally_services = [&] {
        for (const ConnectionRecord& record : records) {
            if (scanner[record.client_host()]) continue;
            const std::uint32_t service = service_numbers.number(service_key(record));
            services_of[record.client_host()].push_back(service);
            if (service == servers.size()) {
                servers.emplace_back();
                servers.back().summary.endpoint = records.server(record);
                servers.back().summary.protocol = record.connection.protocol;
            }
            ServerTally& server = servers[service];
            ++server.summary.connections;
            server.clients.push_back(record.client_host());
            server.client_ports.push_back(record.client_port());
        }
    };
    // Two passes over the log, independent of each other: on two cores where it is long.
    run_on_two_cores_if(records.size() >= min_elements_to_share, tally_services, tally_clients);

    std::vector<ClientTally*> tallies;
    DistinctCounter distinct_services(service_numbers.size());
    for (const std::uint32_t number : hosts_in_order) {
        ClientTally& tally = clients[number];
        if (tally.connections.empty()) continue;  // a scanner's, or a host only ever a server
        tally.summary.address = records.address(number);
        tally.summary.segment = segment_name(report.capture, tally.summary.address.segment);
        tally.summary.servers = distinct_services.count(number, services_of[number]);
        tallies.push_back(&tally);
    }
    const Micros capture_end = report.capture.last;
    analyze_hosts(tallies, [&](ClientTally& tally) {
        // The log is in the order connections ended; the analysis wants them as they started.
        sort_by_start(records, tally.connections);
        tally.summary.ports = port_stats(tally.ports);
        tally.summary.port_use = analyze_client_ports(records, tally.summary.address,
                                                      tally.connections, capture_end, options);
    });
    for (ClientTally* tally : tallies) report.clients.push_back(std::move(tally->summary));
    DistinctCounter distinct_clients(records.host_count());
    for (const std::uint32_t number : services_in_order(servers)) {
        ServerTally& tally = servers[number];
        tally.summary.clients = distinct_clients.count(number, tally.clients);
        tally.summary.client_ports = port_stats(tally.client_ports).distinct;
        tally.summary.segment =
            segment_name(report.capture, tally.summary.endpoint.address.segment);
        report.servers.push_back(tally.summary);
    }
    // Closest to exhaustion first, then busiest.
    std::stable_sort(report.clients.begin(), report.clients.end(),
                     [](const auto& a, const auto& b) {
                         const double a_use = a.port_use.exhaustion.utilization;
                         const double b_use = b.port_use.exhaustion.utilization;
                         if (a_use != b_use) return a_use > b_use;
                         return a.connections() > b.connections();
                     });
    std::stable_sort(report.servers.begin(), report.servers.end(),
                     [](const auto& a, const auto& b) { return a.connections > b.connections; });
    return report;
}

}  // namespace ephemera
