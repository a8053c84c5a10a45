#include "ephemera/analysis/summary.hpp"

#include <algorithm>
#include <bitset>
#include <exception>
#include <thread>
#include <tuple>

#include "ephemera/analysis/numbering.hpp"

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
struct ServiceKey {
    Protocol protocol;
    Endpoint endpoint;

    auto operator<=>(const ServiceKey&) const = default;
};

struct ServiceKeyHash {
    std::size_t operator()(const ServiceKey& key) const noexcept {
        const std::uint64_t port_and_protocol =
            (std::uint64_t{key.endpoint.port} << 8) | static_cast<std::uint64_t>(key.protocol);
        return AddressHash{}(key.endpoint.address) ^ (port_and_protocol * 0x9e3779b97f4a7c15ULL);
    }
};

using ClientNumbering = Numbering<Address, AddressHash>;
using ServiceNumbering = Numbering<ServiceKey, ServiceKeyHash>;

struct ClientTally {
    ClientSummary summary;
    std::vector<const ConnectionRecord*> connections;
    std::vector<std::uint16_t> ports;
    std::vector<std::uint32_t> services;  // ServiceNumbering numbers
};

struct ServerTally {
    ServerSummary summary;
    std::vector<std::uint32_t> clients;  // ClientNumbering numbers
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

// Sources that probed at least min_ports distinct ports, with probes the most of what they did,
// in address order. `client_of[i]` is the number of records[i]'s client; `scanner` is set for
// each number found scanning.
std::vector<ScanSummary> find_scans(const ConnectionRecords& records,
                                    const std::vector<std::uint32_t>& client_of,
                                    const ClientNumbering& clients, const ScanOptions& options,
                                    std::vector<bool>& scanner) {
    std::vector<ScanTally> tallies(clients.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        const ConnectionRecord& record = records[i];
        if (record.connection.protocol != Protocol::tcp) continue;
        ScanTally& tally = tallies[client_of[i]];
        ++tally.tcp;
        if (!is_probe(record.connection)) continue;
        ScanSummary& scan = tally.summary;
        const Micros start = record.connection.first_seen;
        scan.first = scan.probes++ == 0 ? start : std::min(scan.first, start);
        scan.last = std::max(scan.last, record.connection.last_seen);
        scan.answered += record.connection.syn_ack_side != no_side;
        tally.targets.push_back(record.server());
    }
    std::vector<ScanSummary> scans;
    scanner.assign(clients.size(), false);
    for (const std::uint32_t source : clients.in_key_order()) {
        ScanTally& tally = tallies[source];
        if (tally.summary.probes == 0) continue;
        tally.summary.ports = count_distinct(tally.targets);
        if (tally.summary.ports < options.min_ports) continue;
        if (tally.summary.probes < options.min_probe_share * tally.tcp) continue;
        std::vector<Address> hosts;
        for (const Endpoint& target : tally.targets) hosts.push_back(target.address);
        tally.summary.hosts = count_distinct(hosts);
        tally.summary.source = clients.key(source);
        scans.push_back(tally.summary);
        scanner[source] = true;
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

ConnectionLog::ConnectionLog(std::size_t max_records) : max_records_(max_records) {
    // Address space only (see LargeBufferAllocator): the log fills it without copying itself.
    if (large_buffer::reserving_is_free) {
        records_.reserve(std::min(max_records, std::size_t{1} << 20));
    }
}

namespace {

// What orders connections by start: the first packet, then the endpoints.
auto start_key(const ConnectionRecord& record) noexcept {
    return std::tie(record.connection.first_seen, record.connection.endpoint);
}

}  // namespace

bool starts_before(const ConnectionRecord* a, const ConnectionRecord* b) noexcept {
    // Connections on one 4-tuple starting in the same microsecond keep their order in the log.
    return std::tuple_cat(start_key(*a), std::tie(a)) < std::tuple_cat(start_key(*b), std::tie(b));
}

namespace {

// Orders one host's connections as starts_before does. The first packet's time is copied next to
// each pointer, so most comparisons need not reach into the records.
void sort_by_start(std::vector<const ConnectionRecord*>& connections) {
    std::vector<std::pair<Micros, const ConnectionRecord*>> keyed(connections.size());
    for (std::size_t i = 0; i < connections.size(); ++i) {
        keyed[i] = {connections[i]->connection.first_seen, connections[i]};
    }
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first < b.first;
        return starts_before(a.second, b.second);
    });
    for (std::size_t i = 0; i < connections.size(); ++i) connections[i] = keyed[i].second;
}

}  // namespace

void sort_by_start(ConnectionRecords& records) {
    std::stable_sort(records.begin(), records.end(),
                     [](const auto& a, const auto& b) { return start_key(a) < start_key(b); });
}

std::span<std::byte> ConnectionLog::space_ahead() noexcept {
    return ephemera::space_ahead(records_, (std::size_t{2} << 20) / sizeof(ConnectionRecord));
}

Connection* ConnectionLog::kept(std::uint64_t number) noexcept {
    if (number < dropped_ || number - dropped_ >= records_.size()) return nullptr;
    return &records_[number - dropped_].connection;
}

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

    Report report;
    report.capture = std::move(capture);
    report.warnings = std::move(warnings);
    report.warning_at = options.warning_at;
    report.critical_at = options.critical_at;
    report.exhausted_at = options.exhausted_at;

    ClientNumbering client_numbers;
    std::vector<std::uint32_t> client_of(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        client_of[i] = client_numbers.number(records[i].client().address);
    }
    std::vector<bool> scanner;
    report.scans = find_scans(records, client_of, client_numbers, scan_options, scanner);

    std::vector<ClientTally> clients(client_numbers.size());
    {
        // Each host's lists at their final size at once, not grown (and copied) as they fill.
        std::vector<std::uint32_t> per_client(client_numbers.size());
        for (const std::uint32_t client : client_of) ++per_client[client];
        for (std::size_t number = 0; number < clients.size(); ++number) {
            if (scanner[number]) continue;
            clients[number].connections.reserve(per_client[number]);
            clients[number].ports.reserve(per_client[number]);
            clients[number].services.reserve(per_client[number]);
        }
    }
    ServiceNumbering service_numbers;
    std::vector<ServerTally> servers;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const ConnectionRecord& record = records[i];
        const Connection& connection = record.connection;
        const auto state = static_cast<std::size_t>(connection.state());
        const bool tcp = connection.protocol == Protocol::tcp;
        (tcp ? report.tcp_connections : report.udp_flows) += 1;
        ++report.states[state];
        ++report.role_reasons[static_cast<std::size_t>(record.role_reason)];
        // A scanner is not a client using up its ports, and its targets are not services.
        if (scanner[client_of[i]]) continue;

        ClientTally& client = clients[client_of[i]];
        (tcp ? client.summary.tcp_connections : client.summary.udp_flows) += 1;
        ++client.summary.states[state];
        client.ports.push_back(record.client().port);
        client.connections.push_back(&record);
        const std::uint32_t service =
            service_numbers.number({connection.protocol, record.server()});
        client.services.push_back(service);

        if (service == servers.size()) {
            servers.emplace_back();
            servers.back().summary.endpoint = record.server();
            servers.back().summary.protocol = connection.protocol;
        }
        ServerTally& server = servers[service];
        ++server.summary.connections;
        server.clients.push_back(client_of[i]);
        server.client_ports.push_back(record.client().port);
    }

    std::vector<ClientTally*> tallies;
    DistinctCounter distinct_services(service_numbers.size());
    for (const std::uint32_t number : client_numbers.in_key_order()) {
        ClientTally& tally = clients[number];
        if (tally.connections.empty()) continue;  // a scanner's
        tally.summary.address = client_numbers.key(number);
        tally.summary.servers = distinct_services.count(number, tally.services);
        tallies.push_back(&tally);
    }
    const Micros capture_end = report.capture.last;
    analyze_hosts(tallies, [&](ClientTally& tally) {
        // The log is in the order connections ended; the analysis wants them as they started.
        sort_by_start(tally.connections);
        tally.summary.ports = port_stats(tally.ports);
        tally.summary.port_use =
            analyze_client_ports(tally.summary.address, tally.connections, capture_end, options);
    });
    for (ClientTally* tally : tallies) report.clients.push_back(std::move(tally->summary));
    DistinctCounter distinct_clients(client_numbers.size());
    for (const std::uint32_t number : service_numbers.in_key_order()) {
        ServerTally& tally = servers[number];
        tally.summary.clients = distinct_clients.count(number, tally.clients);
        tally.summary.client_ports = port_stats(tally.client_ports).distinct;
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
