#include "ephemera/analysis/live_monitor.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "ephemera/core/free_memory.hpp"

namespace ephemera {
namespace {

bool is_open(const ConnectionState state) {
    return state == ConnectionState::open || state == ConnectionState::half_closed;
}

// What a window's connections say of one client now.
struct ClientActivity {
    std::uint32_t open = 0;
    std::uint64_t started = 0;  // within the window
};

// A client's connections to one service, by the window's host numbers: the records' own
// numbers, so counting them per connection costs a hash, not a comparison of addresses.
struct DestinationNumbers {
    std::uint32_t client = 0;
    std::uint64_t server = 0;  // ConnectionRecord::server_key()
    Protocol protocol = Protocol::tcp;
    bool operator==(const DestinationNumbers&) const = default;
};

struct DestinationNumbersHash {
    std::size_t operator()(const DestinationNumbers& key) const noexcept {
        std::uint64_t hash = key.server * 0x9e3779b97f4a7c15ULL;
        hash ^= (std::uint64_t{key.client} << 1 | (key.protocol == Protocol::udp)) + (hash >> 29);
        return hash * 0xff51afd7ed558ccdULL;
    }
};

}  // namespace

LiveMonitor::LiveMonitor(LiveMonitorOptions options, Micros started)
    : options_(std::move(options)),
      started_(started),
      log_(options_.max_records),
      counted_until_(started) {}

namespace {

// Whether a connection the tracker holds belongs in a window from `cutoff` on. The tracker lets
// closed connections go by packet time; with no packets they stay. One that still holds a port
// counts; one long done does not keep its host in the view.
bool in_window(const Connection& connection, Micros cutoff) {
    return is_open(connection.state()) || connection.last_seen >= cutoff;
}

// Adds what `connection` failed to its client's count, where its handshake names the client.
void count_failures(std::map<Address, FailureStats>& failures, const Connection& connection) {
    const int server = server_side_by_handshake(connection);
    if (server != no_side) failures[connection.endpoint[1 - server].address].count(connection);
}

// Adds the tracker's connections in `window` to its records, and the failures of those still
// lingering to its counts (a closed connection reaches the log, and failures_, once its linger
// has passed: until then they count here, as when the log had them on closing). Failures are
// tallied by host number first, so the map is looked up once per client, not per connection.
void add_tracked(LiveWindow& window) {
    ConnectionRecords& records = window.records;
    for (const Connection& connection : window.open) {
        assign_role_from_handshake(records.add(connection));
    }
    std::vector<FailureStats> failed_by_host;
    std::vector<std::uint8_t> tallied;  // by host
    std::vector<std::uint32_t> tallied_hosts;
    window.lingering.for_each([&](const Connection& connection) {
        if (!in_window(connection, window.cutoff)) {
            count_failures(window.failures, connection);
            return;
        }
        ConnectionRecord& record = records.add(connection);
        if (!assign_role_from_handshake(record)) return;
        const std::uint32_t client = record.client_host();
        if (client >= tallied.size()) {
            failed_by_host.resize(records.host_count());
            tallied.resize(records.host_count());
        }
        if (tallied[client] == 0) {
            tallied[client] = 1;
            tallied_hosts.push_back(client);
        }
        failed_by_host[client].count(connection);
    });
    for (const std::uint32_t host : tallied_hosts) {
        window.failures[records.address(host)] += failed_by_host[host];
    }
}

}  // namespace

void LiveMonitor::on_connection(const Connection& connection) {
    log_.on_connection(connection);
    count_failures(failures_, connection);
}

ConnectionRecords LiveMonitor::logged_in_window(Micros cutoff) {
    ConnectionRecords& logged = log_.records();
    // The log is in the order connections left the tracker, roughly as they ended: skip the
    // prefix that ended before the cutoff once, and filter the rest.
    std::size_t begin = window_begin_ > log_.dropped() ? window_begin_ - log_.dropped() : 0;
    while (begin < logged.size() && logged.last_seen(logged[begin]) < cutoff) ++begin;
    window_begin_ = begin + log_.dropped();

    // Numbered afresh: only the window's hosts, not every host the log has seen.
    ConnectionRecords records;
    records.add_from(logged, begin, [&](const ConnectionRecord& record) {
        return logged.last_seen(record) >= cutoff;
    });
    return records;
}

void LiveMonitor::count_started(const ConnectionRecords& records, Micros since, Micros until) {
    for (const ConnectionRecord& record : records) {
        if (record.first_seen <= since || record.first_seen > until) continue;
        (record.protocol == Protocol::tcp ? tcp_started_ : udp_started_) += 1;
        ++started_per_destination_[{records.client(record).address, records.server(record),
                                    record.protocol}];
    }
}

std::vector<AlertChange> LiveMonitor::update_alerts(
    const std::vector<DestinationNow>& destinations) {
    std::vector<AlertChange> changes;
    std::set<DestinationKey> above;
    for (const DestinationNow& destination : destinations) {
        const DestinationKey key{destination.client, destination.server, destination.protocol};
        if (destination.utilization < options_.alert_at) continue;
        above.insert(key);
        if (!alerting_.contains(key)) changes.push_back({destination, true});
    }
    for (const DestinationKey& key : alerting_) {
        if (above.contains(key)) continue;
        DestinationNow fallen;
        std::tie(fallen.client, fallen.server, fallen.protocol) = key;
        const auto now = std::find_if(destinations.begin(), destinations.end(), [&](auto& d) {
            return std::tie(d.client, d.server, d.protocol) == key;
        });
        if (now != destinations.end()) fallen = *now;  // else it left the window: nothing held
        changes.push_back({fallen, false});
    }
    alerting_ = std::move(above);
    return changes;
}

LiveWindow LiveMonitor::take_window(Micros now, const ConnectionTracker& tracker,
                                    const CaptureSummary& capture) {
    const double time_wait_s = options_.ports.time_wait_s.value_or(longest_time_wait_s());
    const Micros cutoff = now - options_.window - static_cast<Micros>(time_wait_s * 1e6);
    LiveWindow window;
    window.time = now;
    window.packets_until = capture.last;
    window.cutoff = cutoff;
    window.records = logged_in_window(cutoff);
    tracker.for_each_open_connection([&](const Connection& connection) {
        if (in_window(connection, cutoff)) window.open.push_back(connection);
    });
    tracker.copy_lingering(window.lingering);
    window.capture = capture;
    window.capture.last = now;
    tracker.for_each_open_connection([&](const Connection& connection) {
        window.open_connections += is_open(connection.state());
    });
    window.tracked_connections = tracker.open_connections() + tracker.lingering_connections();
    window.failures = failures_;
    return window;
}

LiveSnapshot LiveMonitor::analyze(LiveWindow window) {
    const Micros now = window.time;
    ConnectionRecords& records = window.records;
    add_tracked(window);
    free_memory(window.open);
    free_memory(window.lingering.entries);
    LiveSnapshot snapshot;
    snapshot.time = now;
    snapshot.started = started_;
    snapshot.window = options_.window;
    snapshot.open_connections = window.open_connections;
    snapshot.tracked_connections = window.tracked_connections;
    snapshot.window_report =
        build_report(records, std::move(window.capture), {}, options_.ports, options_.scans);

    // Roles are final now (build_report ran the heuristics): count what started since the
    // previous snapshot. Packet time, not the clock, so a packet read late is still counted.
    const Micros counted_until = std::max(counted_until_, window.packets_until);
    count_started(records, counted_until_, counted_until);
    counted_until_ = counted_until;

    const Micros window_start = std::max(started_, now - options_.window);
    const double window_s = std::max(1e-3, static_cast<double>(now - window_start) / 1e6);
    std::vector<ClientActivity> activity_of_host(records.host_count());
    std::unordered_map<DestinationNumbers, std::uint64_t, DestinationNumbersHash> started_in_window;
    for (const ConnectionRecord& record : records) {
        ClientActivity& activity = activity_of_host[record.client_host()];
        activity.open += is_open(record.state());
        if (record.first_seen < window_start) continue;
        ++activity.started;
        ++started_in_window[{record.client_host(), record.server_key(), record.protocol}];
    }
    // The connections started within the window from `client` to `server`.
    const auto started_to = [&](std::optional<std::uint32_t> client, const Endpoint& server,
                                Protocol protocol) {
        const std::optional<std::uint32_t> server_host = records.find_host(server.address);
        if (!client || !server_host) return std::uint64_t{0};
        const DestinationNumbers key{
            *client, ConnectionRecord::endpoint_key(*server_host, server.port), protocol};
        const auto found = started_in_window.find(key);
        return found == started_in_window.end() ? 0 : found->second;
    };

    for (const ClientSummary& summary : snapshot.window_report.clients.held()) {
        const std::uint32_t limit = summary.port_use.range.limit();
        // A client of the report is a client of some record in the window: it has a number.
        const std::optional<std::uint32_t> host = records.find_host(summary.address);
        const ClientActivity activity = host ? activity_of_host[*host] : ClientActivity{};
        ClientNow client;
        client.open = activity.open;
        client.started = activity.started;
        client.address = summary.address;
        client.range = summary.port_use.range;
        client.destinations = summary.servers;
        client.new_per_s = static_cast<double>(client.started) / window_s;
        for (const DestinationOccupancy& occupancy : summary.port_use.exhaustion.destinations) {
            DestinationNow destination;
            destination.client = summary.address;
            destination.server = occupancy.server;
            destination.protocol = occupancy.protocol;
            destination.occupied = occupancy.occupied_at_end;
            destination.range_size = limit;
            destination.utilization =
                static_cast<double>(occupancy.occupied_at_end) / std::max(1u, limit);
            destination.peak_occupied = occupancy.peak_occupied;
            const DestinationKey key{summary.address, occupancy.server, occupancy.protocol};
            destination.new_per_s =
                static_cast<double>(started_to(host, occupancy.server, occupancy.protocol)) /
                window_s;
            destination.sustainable_per_s = occupancy.sustainable_new_per_s;
            destination.verdict = verdict_for(destination.utilization, options_.ports);
            destination.connections_total = started_per_destination_[key];
            client.utilization = std::max(client.utilization, destination.utilization);
            snapshot.destinations.push_back(destination);
        }
        client.verdict = verdict_for(client.utilization, options_.ports);
        snapshot.clients.push_back(client);
    }
    std::stable_sort(snapshot.destinations.begin(), snapshot.destinations.end(),
                     [](const DestinationNow& a, const DestinationNow& b) {
                         if (a.utilization != b.utilization) return a.utilization > b.utilization;
                         return a.new_per_s > b.new_per_s;
                     });
    std::stable_sort(snapshot.clients.begin(), snapshot.clients.end(),
                     [](const ClientNow& a, const ClientNow& b) {
                         if (a.started != b.started) return a.started > b.started;
                         return a.open > b.open;
                     });
    snapshot.tcp_started_total = tcp_started_;
    snapshot.udp_started_total = udp_started_;
    snapshot.failures = std::move(window.failures);
    snapshot.alerts = update_alerts(snapshot.destinations);
    return snapshot;
}

}  // namespace ephemera
