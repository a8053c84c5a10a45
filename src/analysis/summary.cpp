#include "ephemera/analysis/summary.hpp"

#include <algorithm>
#include <atomic>
#include <bitset>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <tuple>

#include "ephemera/analysis/findings.hpp"
#include "ephemera/analysis/nearly_sorted.hpp"
#include "ephemera/analysis/numbering.hpp"
#include "ephemera/analysis/port_set.hpp"
#include "ephemera/analysis/scratch.hpp"
#include "ephemera/analysis/two_cores.hpp"
#include "ephemera/core/free_memory.hpp"

namespace ephemera {
namespace {

template <typename T>
std::uint32_t count_distinct(std::vector<T>& values) {
    std::sort(values.begin(), values.end());
    return static_cast<std::uint32_t>(std::unique(values.begin(), values.end()) - values.begin());
}

// A server as the report keys it: TCP and UDP on one address and port are two services.
std::uint64_t service_key(const ConnectionRecord& record) noexcept {
    return std::uint64_t{record.protocol == Protocol::udp} << 48 | record.server_key();
}

// Every client's connections in one flat array, as indices into the records (half the size of
// pointers), a client's share at [first[client], first[client + 1]): one allocation for a
// capture's million clients instead of one per client. Records are numbered in 32 bits, as the
// translation pairing numbers them too.
struct ClientLists {
    std::vector<std::uint32_t> first;
    std::vector<std::uint32_t> connections;

    ClientLists() = default;
    explicit ClientLists(const std::vector<std::uint32_t>& per_client)
        : first(per_client.size() + 1) {
        for (std::size_t client = 0; client < per_client.size(); ++client) {
            first[client + 1] = first[client] + per_client[client];
        }
        connections.resize(first.back());
    }
    std::span<std::uint32_t> of(std::size_t client) {
        return {connections.data() + first[client], first[client + 1] - first[client]};
    }
    std::span<const std::uint32_t> of(std::size_t client) const {
        return {connections.data() + first[client], first[client + 1] - first[client]};
    }
    // The records of `client`'s connections, in the list's order, into `into`.
    void records_of(std::size_t client, const ConnectionRecords& records,
                    std::vector<const ConnectionRecord*>& into) const {
        into.clear();
        for (const std::uint32_t index : of(client)) into.push_back(&records[index]);
    }
};

// What summarizing one client works in (analysis/scratch.hpp): its connections' records, and the
// services it used.
struct ClientWorkspace {
    std::vector<const ConnectionRecord*> connections;
    std::vector<std::uint64_t> services;
};

struct ServerTally {
    ServerSummary summary;  // its clients counted apart, as the clients are analyzed
    PortSet client_ports;
};

// Distinct ports, lowest and highest: a few sorted on the stack, many in one pass over a bitmap
// of the port space (8 KiB to clear, which a client of three connections should not pay for).
template <typename Items, typename PortOf>
PortStats port_stats(const Items& items, const PortOf& port_of) {
    PortStats stats;
    constexpr std::size_t few = 64;
    if (items.size() <= few) {
        std::array<std::uint16_t, few> ports;
        std::size_t count = 0;
        for (const auto& item : items) ports[count++] = port_of(item);
        if (count == 0) return stats;
        std::sort(ports.begin(), ports.begin() + count);
        stats.distinct = static_cast<std::uint32_t>(
            std::unique(ports.begin(), ports.begin() + count) - ports.begin());
        stats.min = ports[0];
        stats.max = ports[stats.distinct - 1];
        return stats;
    }
    std::bitset<65536> seen;
    for (const auto& item : items) {
        const std::uint16_t port = port_of(item);
        if (seen[port]) continue;
        seen[port] = true;
        if (stats.distinct++ == 0) stats.min = stats.max = port;
        stats.min = std::min(stats.min, port);
        stats.max = std::max(stats.max, port);
    }
    return stats;
}

bool is_probe(const ConnectionRecord& record) {
    // The record's counts are saturated: exact for comparing with numbers this small.
    const auto total = [](const std::array<std::uint32_t, 2>& counts) {
        return std::uint64_t{counts[0]} + counts[1];
    };
    if (record.protocol != Protocol::tcp || total(record.payload_bytes_saturated) > 0) return false;
    if (total(record.packets_saturated) > 4) return false;
    const ConnectionState state = record.state();
    return state == ConnectionState::refused || state == ConnectionState::unanswered ||
           state == ConnectionState::reset;
}

// What a host's probes (is_probe) say, kept only for the hosts that sent any.
struct ProbeTally {
    ScanSummary summary;
    std::vector<std::uint64_t> targets;  // server_key()
};

// Sources that probed at least min_ports distinct ports, with probes the most of what they did,
// in address order. `scanner` is set for each host number found scanning. The same pass over the
// records counts each host's connections as a client, of either protocol, into `per_client`: one
// read of the log for the two.
std::vector<ScanSummary> find_scans(const ConnectionRecords& records,
                                    const std::vector<std::uint32_t>& hosts_in_order,
                                    const ScanOptions& options, std::vector<bool>& scanner,
                                    std::vector<std::uint32_t>& per_client) {
    // A few bytes for every host; a tally only for those that probed, which most hosts do not.
    constexpr std::uint32_t no_probes = UINT32_MAX;
    std::vector<std::uint32_t> tcp_connections(records.host_count(), 0);
    std::vector<std::uint32_t> tally_of(records.host_count(), no_probes);
    std::vector<ProbeTally> tallies;
    per_client.assign(records.host_count(), 0);
    for (const ConnectionRecord& record : records) {
        const std::uint32_t client = record.client_host();
        ++per_client[client];
        if (record.protocol != Protocol::tcp) continue;
        ++tcp_connections[client];
        if (!is_probe(record)) continue;
        if (tally_of[client] == no_probes) {
            tally_of[client] = static_cast<std::uint32_t>(tallies.size());
            tallies.emplace_back();
        }
        ProbeTally& tally = tallies[tally_of[client]];
        ScanSummary& scan = tally.summary;
        const Micros start = record.first_seen;
        scan.first = scan.probes++ == 0 ? start : std::min(scan.first, start);
        scan.last = std::max(scan.last, records.last_seen(record));
        scan.answered += record.syn_ack_side != no_side;
        tally.targets.push_back(record.server_key());
    }
    std::vector<ScanSummary> scans;
    scanner.assign(records.host_count(), false);
    for (const std::uint32_t source : hosts_in_order) {
        if (tally_of[source] == no_probes) continue;
        ProbeTally& tally = tallies[tally_of[source]];
        tally.summary.ports = count_distinct(tally.targets);
        if (tally.summary.ports < options.min_ports) continue;
        if (tally.summary.probes < options.min_probe_share * tcp_connections[source]) continue;
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

// Calls analyze(client, worker) for every client number below `clients`, and side_task() once,
// on two cores when there is enough to share: clients are analyzed independently, so the result
// is the same either way. The helper core (worker 1) runs side_task() first; both then take the
// next client not taken yet, so the side task's time is shared out too.
template <typename Analyze, typename SideTask>
void analyze_clients(std::size_t clients, std::size_t connections, const Analyze& analyze,
                     const SideTask& side_task) {
    std::atomic<std::size_t> next{0};
    const auto take_clients = [&](std::size_t worker) {
        for (std::size_t i = next++; i < clients; i = next++) analyze(i, worker);
    };
    run_on_two_cores_if(
        connections >= min_elements_to_share && clients >= 2,
        [&] {
            side_task();
            take_clients(1);
        },
        [&] { take_clients(0); });
}

// One client's summary, from its connections (of `records`, in starts_before's order).
// `services` is left holding the services it used (service_key), each once, in key order.
ClientSummary summarize_client(const ConnectionRecords& records, std::uint32_t host,
                               std::span<const ConnectionRecord* const> connections,
                               const CaptureSummary& capture, const PortAnalysisOptions& options,
                               std::vector<std::uint64_t>& services) {
    ClientSummary client;
    client.address = records.address(host);
    client.segment = segment_name(capture, client.address.segment);
    services.clear();
    for (const ConnectionRecord* record : connections) {
        (record->protocol == Protocol::tcp ? client.tcp_connections : client.udp_flows) += 1;
        ++client.states[static_cast<std::size_t>(record->state())];
        services.push_back(service_key(*record));
    }
    client.servers = count_distinct(services);
    services.resize(client.servers);
    client.ports = port_stats(connections,
                              [](const ConnectionRecord* record) { return record->client_port(); });
    client.port_use =
        analyze_client_ports(records, client.address, connections, capture.last, options);
    return client;
}

// Where both sides of a translator are in the capture, its hosts are counted, not estimated.
void count_hosts_behind(SharedAddress& shared, std::uint8_t hosts) {
    shared.likely = true;
    shared.evidence = SharedEvidence::both_sides;
    shared.hosts_estimate = hosts;
    shared.hosts_at_least = false;
}

}  // namespace

// Records the log reserves address space for at first: 5.5 GiB, of which only what is filled
// takes memory.
constexpr std::size_t records_reserved = std::size_t{1} << 26;

ConnectionLog::ConnectionLog(std::size_t max_records) : max_records_(max_records) {
    // Address space only (see LargeBufferAllocator): the log fills it without copying itself,
    // which growing would do at every doubling, holding both copies meanwhile. Where that much
    // address space is refused (ulimit -v, strict overcommit), a smaller start.
    if (large_buffer::reserving_is_free) {
        try {
            records_.reserve(std::min(max_records, records_reserved));
        } catch (const std::bad_alloc&) {
            records_.reserve(std::min(max_records, std::size_t{1} << 20));
        }
    }
}

namespace {

// How two records' starts compare: by first packet, then endpoints (by side).
std::strong_ordering compare_starts(const ConnectionRecords& records, const ConnectionRecord& a,
                                    const ConnectionRecord& b) noexcept {
    if (auto order = a.first_seen <=> b.first_seen; order != 0) return order;
    for (int side = 0; side < 2; ++side) {
        if (a.host[side] == b.host[side] && a.port[side] == b.port[side]) continue;
        return records.endpoint(a, side) <=> records.endpoint(b, side);
    }
    return std::strong_ordering::equal;
}

// What ranks a client: its utilization, then its connections.
struct RankKey {
    double utilization = 0;
    std::uint64_t connections = 0;
};

// Client numbers below `clients`, closest to exhaustion first, then busiest, then by number.
template <typename KeyOf>
std::vector<std::uint32_t> worst_first(std::size_t clients, const KeyOf& key_of) {
    std::vector<std::uint32_t> order(clients);
    std::iota(order.begin(), order.end(), 0U);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        const RankKey a_key = key_of(a);
        const RankKey b_key = key_of(b);
        if (a_key.utilization != b_key.utilization) return a_key.utilization > b_key.utilization;
        if (a_key.connections != b_key.connections) return a_key.connections > b_key.connections;
        return a < b;
    });
    return order;
}

// Orders `clients` closest to exhaustion first, then busiest, keeping their order where both
// tie. Indices are sorted and the summaries then moved along the permutation's cycles:
// std::stable_sort would take a buffer of half the summaries.
void sort_clients_worst_first(std::vector<ClientSummary>& clients) {
    std::vector<std::uint32_t> order = worst_first(clients.size(), [&](std::uint32_t client) {
        return RankKey{clients[client].port_use.exhaustion.utilization,
                       clients[client].connections()};
    });
    // Position i takes the summary at order[i]; each cycle is walked once, with one summary
    // held aside.
    for (std::uint32_t start = 0; start < order.size(); ++start) {
        if (order[start] == start) continue;
        ClientSummary held = std::move(clients[start]);
        std::uint32_t at = start;
        while (order[at] != start) {
            const std::uint32_t from = order[at];
            clients[at] = std::move(clients[from]);
            order[at] = at;
            at = from;
        }
        clients[at] = std::move(held);
        order[at] = at;
    }
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
                   std::span<const ConnectionRecord*> connections) {
    std::vector<std::pair<Micros, const ConnectionRecord*>> keyed(connections.size());
    for (std::size_t i = 0; i < connections.size(); ++i) {
        keyed[i] = {connections[i]->first_seen, connections[i]};
    }
    sort_nearly_sorted(keyed, [&](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first < b.first;
        return starts_before(records, a.second, b.second);
    });
    for (std::size_t i = 0; i < connections.size(); ++i) connections[i] = keyed[i].second;
}

std::vector<const ConnectionRecord*> oldest_first(const ConnectionRecords& records) {
    // Pointers, not the records themselves: std::stable_sort of the log would take a buffer as
    // large as the log, and move every record.
    std::vector<const ConnectionRecord*> order(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) order[i] = &records[i];
    sort_by_start(records, order);
    return order;
}

std::span<std::byte> ConnectionLog::fresh_memory_ahead() const noexcept {
    return space_ahead(records_.storage(), (std::size_t{2} << 20) / sizeof(ConnectionRecord));
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

// What on-demand summaries are computed from: the clients' connections as the analysis sorted
// them, and what the analysis was told.
class ClientList::Source {
  public:
    std::shared_ptr<const ConnectionRecords> records;
    CaptureSummary capture;  // its segments and last packet's time: all a summary reads of it
    PortAnalysisOptions options;
    std::vector<std::uint32_t> host_of_client;            // by client number (address order)
    ClientLists lists;                                    // by client number, each sorted by start
    std::vector<std::uint32_t> by_rank;                   // client numbers, worst first
    std::map<std::uint32_t, std::uint8_t> counted_hosts;  // behind paired translators
    std::vector<Finding> findings;                        // subjects are ranks
    Verdict worst = Verdict::unknown;

    ClientSummary summary_of(std::uint32_t number) const {
        std::optional<ClientWorkspace> own;
        auto& [connections, services] = scratch_for(lists.of(number).size(), own);
        lists.records_of(number, *records, connections);
        ClientSummary client = summarize_client(*records, host_of_client[number], connections,
                                                capture, options, services);
        if (const auto counted = counted_hosts.find(number); counted != counted_hosts.end()) {
            count_hosts_behind(client.port_use.shared, counted->second);
        }
        return client;
    }
};

ClientList::ClientList(std::shared_ptr<const Source> source) : source_(std::move(source)) {}

std::size_t ClientList::size() const noexcept {
    return source_ ? source_->by_rank.size() : held_.size();
}

ClientSummary ClientList::operator[](std::size_t rank) const {
    return source_ ? source_->summary_of(source_->by_rank[rank]) : held_[rank];
}

Verdict ClientList::worst_verdict() const noexcept {
    if (source_) return source_->worst;
    Verdict worst = Verdict::unknown;
    for (const ClientSummary& client : held_) {
        worst = std::max(worst, client.port_use.exhaustion.verdict);
    }
    return worst;
}

std::span<const Finding> ClientList::findings() const noexcept {
    if (!source_) return {};
    return source_->findings;
}

namespace {

// The services' summaries, busiest first, from their tallies (`clients`: how many clients each
// service number had, counted by each worker), each let go once summed up.
std::vector<ServerSummary> summarize_services(
    std::vector<ServerTally>& servers, const std::array<std::vector<std::uint32_t>, 2>& clients,
    const CaptureSummary& capture) {
    std::vector<ServerSummary> summaries;
    for (const std::uint32_t number : services_in_order(servers)) {
        ServerTally& tally = servers[number];
        tally.summary.clients = clients[0][number] + clients[1][number];
        tally.summary.client_ports = tally.client_ports.distinct();
        tally.summary.segment = segment_name(capture, tally.summary.endpoint.address.segment);
        summaries.push_back(tally.summary);
        tally = {};
    }
    free_memory(servers);
    std::stable_sort(summaries.begin(), summaries.end(),
                     [](const auto& a, const auto& b) { return a.connections > b.connections; });
    return summaries;
}

// build_report, with the clients' summaries held where `kept` is null or there are at most
// `max_clients_held`, else on demand from `records` (which `kept` owns).
Report build_report_keeping(ConnectionRecords& records,
                            std::shared_ptr<const ConnectionRecords> kept, CaptureSummary capture,
                            std::vector<std::string> warnings, const PortAnalysisOptions& options,
                            const ScanOptions& scan_options, std::size_t max_clients_held) {
    assign_roles_by_heuristics(records);

    Report report;
    report.capture = std::move(capture);
    report.warnings = std::move(warnings);
    report.warning_at = options.warning_at;
    report.critical_at = options.critical_at;
    report.exhausted_at = options.exhausted_at;

    std::vector<std::uint32_t> hosts_in_order = records.hosts_in_address_order();
    std::vector<bool> scanner;
    std::vector<std::uint32_t> per_client;
    report.scans = find_scans(records, hosts_in_order, scan_options, scanner, per_client);

    // Clients are numbered in address order; a scanner is not a client using up its ports, and
    // its targets are not services.
    constexpr std::uint32_t not_a_client = UINT32_MAX;
    std::vector<std::uint32_t> client_of_host(records.host_count(), not_a_client);
    std::vector<std::uint32_t> host_of_client;
    std::vector<std::uint32_t> per_client_number;
    for (const std::uint32_t host : hosts_in_order) {
        if (scanner[host] || per_client[host] == 0) continue;  // a scanner, or only ever a server
        client_of_host[host] = static_cast<std::uint32_t>(host_of_client.size());
        host_of_client.push_back(host);
        per_client_number.push_back(per_client[host]);
    }
    free_memory(hosts_in_order);
    free_memory(per_client);
    ClientLists lists(per_client_number);
    const ConnectionRecord* const first_record = records.empty() ? nullptr : &records[0];
    free_memory(per_client_number);
    // Collects the connections to pair on both sides of translators too: this pass is the lighter
    // of the two below. They are paired beside the clients' analysis.
    std::optional<TranslationCandidates> translations;
    if (options.shared_addresses) translations.emplace(records);
    const auto tally_clients = [&] {
        std::vector<std::uint32_t> next(lists.first.begin(), lists.first.end() - 1);
        for (const ConnectionRecord& record : records) {
            if (translations) translations->add(record);
            (record.protocol == Protocol::tcp ? report.tcp_connections : report.udp_flows) += 1;
            ++report.states[static_cast<std::size_t>(record.state())];
            ++report.role_reasons[static_cast<std::size_t>(record.role_reason)];
            const std::uint32_t number = client_of_host[record.client_host()];
            if (number != not_a_client) {
                lists.connections[next[number]++] =
                    static_cast<std::uint32_t>(&record - first_record);
            }
        }
    };
    WordNumbering service_numbers;
    std::vector<ServerTally> servers;
    const auto tally_services = [&] {
        for (const ConnectionRecord& record : records) {
            if (client_of_host[record.client_host()] == not_a_client) continue;
            const std::uint32_t service = service_numbers.number(service_key(record));
            if (service == servers.size()) {
                servers.emplace_back();
                servers.back().summary.endpoint = records.server(record);
                servers.back().summary.protocol = record.protocol;
            }
            ServerTally& server = servers[service];
            ++server.summary.connections;
            server.client_ports.add(record.client_port());
        }
    };
    // Two passes over the log, independent of each other: on two cores where it is long.
    run_on_two_cores_if(records.size() >= min_elements_to_share, tally_services, tally_clients);
    free_memory(client_of_host);

    // Each client is summarized once here. Held, the summary stays; on demand, only what ranks it,
    // its verdict and its findings do (by client number until the clients are ranked). A few
    // clients' summaries are held even where the records are kept: computing them again for the
    // report would cost time, and holding them little memory.
    const bool held = kept == nullptr || host_of_client.size() <= max_clients_held;
    std::vector<ClientSummary>& summaries = report.clients.held();
    if (held) summaries.resize(host_of_client.size());
    // What ranks each client, in two arrays: a RankKey's padding would cost 4 MB a million.
    std::vector<double> utilization_of(held ? 0 : host_of_client.size());
    std::vector<std::uint32_t> connections_of(utilization_of.size());
    std::array<std::vector<Finding>, 2> findings_of_worker;
    std::array<Verdict, 2> worst_of_worker{Verdict::unknown, Verdict::unknown};
    // Each service's distinct clients, counted as each client names its services once.
    std::array<std::vector<std::uint32_t>, 2> clients_of_service;
    for (std::vector<std::uint32_t>& counts : clients_of_service) counts.assign(servers.size(), 0);
    const auto analyze_client = [&](std::size_t number, std::size_t worker) {
        // The log is in the order connections ended; the analysis wants them as they started,
        // and so do on-demand summaries later: the list keeps the order.
        std::optional<ClientWorkspace> own;
        auto& [connections, services] = scratch_for(lists.of(number).size(), own);
        lists.records_of(number, records, connections);
        sort_by_start(records, connections);
        std::span<std::uint32_t> indices = lists.of(number);
        for (std::size_t i = 0; i < connections.size(); ++i) {
            indices[i] = static_cast<std::uint32_t>(connections[i] - first_record);
        }
        ClientSummary client = summarize_client(records, host_of_client[number], connections,
                                                report.capture, options, services);
        for (const std::uint64_t service : services) {
            ++clients_of_service[worker][*service_numbers.find(service)];
        }
        if (held) {
            summaries[number] = std::move(client);
            return;
        }
        const ExhaustionStats& exhaustion = client.port_use.exhaustion;
        utilization_of[number] = exhaustion.utilization;
        // Fewer than 2^32: ClientLists numbers the records in 32 bits.
        connections_of[number] = static_cast<std::uint32_t>(client.connections());
        worst_of_worker[worker] = std::max(worst_of_worker[worker], exhaustion.verdict);
        add_client_findings(findings_of_worker[worker], client, static_cast<std::uint32_t>(number),
                            options.critical_at);
    };
    const auto pair_translations = [&] {
        if (translations) report.translations = translations->pair();
    };
    analyze_clients(host_of_client.size(), records.size(), analyze_client, pair_translations);
    report.servers = summarize_services(servers, clients_of_service, report.capture);
    service_numbers = {};

    // Where both sides of a translator are in the capture, its hosts are counted, not estimated
    // (one host behind it does not share the address).
    std::map<std::uint32_t, std::uint8_t> counted_hosts;
    for (const Translation& translation : report.translations) {
        if (translation.inside_hosts.size() < 2) continue;
        // Client numbers are in address order.
        const auto client =
            std::lower_bound(host_of_client.begin(), host_of_client.end(), translation.outside,
                             [&](std::uint32_t host, const Address& address) {
                                 return records.address(host) < address;
                             });
        if (client == host_of_client.end() || records.address(*client) != translation.outside) {
            continue;
        }
        counted_hosts[static_cast<std::uint32_t>(client - host_of_client.begin())] =
            static_cast<std::uint8_t>(std::min<std::size_t>(translation.inside_hosts.size(), 255));
    }
    if (held) {
        for (const auto& [number, hosts] : counted_hosts) {
            count_hosts_behind(summaries[number].port_use.shared, hosts);
        }
        sort_clients_worst_first(summaries);
        return report;
    }

    auto source = std::make_shared<ClientList::Source>();
    source->records = std::move(kept);
    source->capture.segments = report.capture.segments;
    source->capture.last = report.capture.last;
    source->options = options;
    source->host_of_client = std::move(host_of_client);
    source->lists = std::move(lists);
    source->counted_hosts = std::move(counted_hosts);
    source->worst = std::max(worst_of_worker[0], worst_of_worker[1]);
    source->by_rank = worst_first(utilization_of.size(), [&](std::uint32_t number) {
        return RankKey{utilization_of[number], connections_of[number]};
    });
    free_memory(utilization_of);
    free_memory(connections_of);
    // The findings of a client whose hosts were counted change with them: found again.
    std::vector<Finding>& findings = source->findings;
    for (std::vector<Finding>& of_worker : findings_of_worker) {
        std::erase_if(of_worker, [&](const Finding& finding) {
            return source->counted_hosts.contains(finding.subject);
        });
        findings.insert(findings.end(), of_worker.begin(), of_worker.end());
        free_memory(of_worker);
    }
    for (const auto& [number, hosts] : source->counted_hosts) {
        add_client_findings(findings, source->summary_of(number), number, options.critical_at);
    }
    // Subjects become ranks, each client's findings kept in the order they were found.
    std::vector<std::uint32_t> rank_of(source->by_rank.size());
    for (std::uint32_t rank = 0; rank < rank_of.size(); ++rank) {
        rank_of[source->by_rank[rank]] = rank;
    }
    for (Finding& finding : findings) finding.subject = rank_of[finding.subject];
    std::stable_sort(findings.begin(), findings.end(),
                     [](const Finding& a, const Finding& b) { return a.subject < b.subject; });
    report.clients = ClientList(std::move(source));
    return report;
}

}  // namespace

Report build_report(ConnectionRecords& records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options) {
    return build_report_keeping(records, nullptr, std::move(capture), std::move(warnings), options,
                                scan_options, 0);
}

Report build_report(std::shared_ptr<ConnectionRecords> records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options, std::size_t max_clients_held) {
    ConnectionRecords& kept = *records;
    kept.stop_numbering_hosts();  // kept as they are from here on
    return build_report_keeping(kept, std::move(records), std::move(capture), std::move(warnings),
                                options, scan_options, max_clients_held);
}

}  // namespace ephemera
