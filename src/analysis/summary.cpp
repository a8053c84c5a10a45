#include "ephemera/analysis/summary.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <thread>
#include <tuple>

namespace ephemera {
namespace {

template <typename T>
std::uint32_t count_distinct(std::vector<T>& values) {
    std::sort(values.begin(), values.end());
    return static_cast<std::uint32_t>(std::unique(values.begin(), values.end()) - values.begin());
}

struct ClientTally {
    ClientSummary summary;
    std::vector<const ConnectionRecord*> connections;
    std::vector<std::uint16_t> ports;
    std::vector<std::tuple<Protocol, Endpoint>> servers;
};

struct ServerTally {
    ServerSummary summary;
    std::vector<Address> clients;
    std::vector<std::uint16_t> client_ports;
};

PortStats port_stats(std::vector<std::uint16_t>& ports) {
    PortStats stats;
    stats.distinct = count_distinct(ports);
    if (!ports.empty()) {
        stats.min = ports.front();  // sorted by count_distinct
        stats.max = ports[stats.distinct - 1];
    }
    return stats;
}

bool is_probe(const Connection& connection) {
    if (connection.protocol != Protocol::tcp || connection.total_bytes() > 0) return false;
    if (connection.total_packets() > 4) return false;
    const ConnectionState state = connection.state();
    return state == ConnectionState::refused || state == ConnectionState::unanswered ||
           state == ConnectionState::reset;
}

struct ScanTally {
    ScanSummary summary;
    std::uint64_t tcp = 0;
    std::vector<Endpoint> targets;
};

// Sources that probed at least min_ports distinct ports, with probes the most of what they did.
std::vector<ScanSummary> find_scans(const ConnectionRecords& records, const ScanOptions& options) {
    std::map<Address, ScanTally> tallies;
    for (const ConnectionRecord& record : records) {
        if (record.connection.protocol != Protocol::tcp) continue;
        ScanTally& tally = tallies[record.client().address];
        ++tally.tcp;
        if (!is_probe(record.connection)) continue;
        ScanSummary& scan = tally.summary;
        if (scan.probes++ == 0) scan.first = record.connection.first_seen;
        scan.last = std::max(scan.last, record.connection.last_seen);
        scan.answered += record.connection.syn_ack_side != no_side;
        tally.targets.push_back(record.server());
    }
    std::vector<ScanSummary> scans;
    for (auto& [source, tally] : tallies) {
        tally.summary.ports = count_distinct(tally.targets);
        if (tally.summary.ports < options.min_ports) continue;
        if (tally.summary.probes < options.min_probe_share * tally.tcp) continue;
        std::vector<Address> hosts;
        for (const Endpoint& target : tally.targets) hosts.push_back(target.address);
        tally.summary.hosts = count_distinct(hosts);
        tally.summary.source = source;
        scans.push_back(tally.summary);
    }
    return scans;
}

// Below this many connections a second thread costs more than it saves.
constexpr std::size_t min_connections_to_share = 20'000;

// Calls analyze(*tally) for every host, on two threads when there is enough to share: hosts are
// analyzed independently, so the result is the same either way.
template <typename Analyze>
void analyze_hosts(const std::vector<ClientTally*>& tallies, const Analyze& analyze) {
    std::size_t connections = 0;
    for (const ClientTally* tally : tallies) connections += tally->connections.size();
    if (connections < min_connections_to_share || tallies.size() < 2) {
        for (ClientTally* tally : tallies) analyze(*tally);
        return;
    }
    const auto every_other = [&](std::size_t first) {
        for (std::size_t i = first; i < tallies.size(); i += 2) analyze(*tallies[i]);
    };
    std::exception_ptr failed;
    std::thread helper([&] {
        try {
            every_other(1);
        } catch (...) {
            failed = std::current_exception();
        }
    });
    try {
        every_other(0);
    } catch (...) {
        helper.join();
        throw;
    }
    helper.join();
    if (failed) std::rethrow_exception(failed);
}

}  // namespace

void ConnectionLog::on_connection(const Connection& connection) {
    ConnectionRecord record;
    record.connection = connection;
    assign_role_from_handshake(record);
    if (records_.size() >= max_records_) {
        const std::size_t oldest = std::max<std::size_t>(1, records_.size() / 8);
        records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(oldest));
        dropped_ += oldest;
    }
    records_.push_back(record);
}

Report build_report(ConnectionRecords& records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options) {
    assign_roles_by_heuristics(records);
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
        return std::tie(a.connection.first_seen, a.connection.endpoint) <
               std::tie(b.connection.first_seen, b.connection.endpoint);
    });

    Report report;
    report.capture = std::move(capture);
    report.warnings = std::move(warnings);
    report.warning_at = options.warning_at;
    report.critical_at = options.critical_at;
    report.exhausted_at = options.exhausted_at;
    std::map<Address, ClientTally> clients;
    std::map<std::tuple<Protocol, Endpoint>, ServerTally> servers;
    report.scans = find_scans(records, scan_options);
    const auto scanned_by = [&](const Address& address) {
        return std::any_of(report.scans.begin(), report.scans.end(),
                           [&](const ScanSummary& scan) { return scan.source == address; });
    };
    for (const ConnectionRecord& record : records) {
        const Connection& connection = record.connection;
        const auto state = static_cast<std::size_t>(connection.state());
        const bool tcp = connection.protocol == Protocol::tcp;
        (tcp ? report.tcp_connections : report.udp_flows) += 1;
        ++report.states[state];
        ++report.role_reasons[static_cast<std::size_t>(record.role_reason)];
        // A scanner is not a client using up its ports, and its targets are not services.
        if (!report.scans.empty() && scanned_by(record.client().address)) continue;

        ClientTally& client = clients[record.client().address];
        client.summary.address = record.client().address;
        (tcp ? client.summary.tcp_connections : client.summary.udp_flows) += 1;
        ++client.summary.states[state];
        client.ports.push_back(record.client().port);
        client.connections.push_back(&record);
        client.servers.emplace_back(connection.protocol, record.server());

        ServerTally& server = servers[{connection.protocol, record.server()}];
        server.summary.endpoint = record.server();
        server.summary.protocol = connection.protocol;
        ++server.summary.connections;
        server.clients.push_back(record.client().address);
        server.client_ports.push_back(record.client().port);
    }

    std::vector<ClientTally*> tallies;
    for (auto& [address, tally] : clients) tallies.push_back(&tally);
    const Micros capture_end = report.capture.last;
    analyze_hosts(tallies, [&](ClientTally& tally) {
        tally.summary.ports = port_stats(tally.ports);
        tally.summary.servers = count_distinct(tally.servers);
        tally.summary.port_use =
            analyze_client_ports(tally.summary.address, tally.connections, capture_end, options);
    });
    for (const ClientTally* tally : tallies) report.clients.push_back(tally->summary);
    for (auto& [key, tally] : servers) {
        tally.summary.clients = count_distinct(tally.clients);
        tally.summary.client_ports = count_distinct(tally.client_ports);
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
