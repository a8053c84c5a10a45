#include "ephemera/analysis/live_monitor.hpp"

#include <algorithm>

namespace ephemera {
namespace {

bool is_open(const ConnectionState state) {
    return state == ConnectionState::open || state == ConnectionState::half_closed;
}

struct DestinationActivity {
    std::uint64_t started_in_window = 0;
};

}  // namespace

LiveMonitor::LiveMonitor(LiveMonitorOptions options, Micros started)
    : options_(std::move(options)),
      started_(started),
      log_(options_.max_records),
      counted_until_(started) {}

void LiveMonitor::on_connection(const Connection& connection) {
    log_.on_connection(connection);
    const ConnectionRecords& logged = log_.records();
    const ConnectionRecord& record = logged.back();
    if (connection.protocol != Protocol::tcp || !record.role_from_handshake) return;
    FailureStats& failures = failures_[logged.address(record.client_host())];
    const ConnectionState state = connection.state();
    failures.refused += state == ConnectionState::refused;
    failures.unanswered += state == ConnectionState::unanswered;
    failures.syn_retransmissions += connection.syn_retransmissions;
}

ConnectionRecords LiveMonitor::window_records(Micros cutoff, const ConnectionTracker& tracker) {
    ConnectionRecords& logged = log_.records();
    // The log is in the order connections ended (within the tracker's linger): skip the prefix
    // that ended before the cutoff once, and filter the rest.
    std::size_t begin = window_begin_ > log_.dropped() ? window_begin_ - log_.dropped() : 0;
    while (begin < logged.size() && logged[begin].connection.last_seen < cutoff) ++begin;
    window_begin_ = begin + log_.dropped();

    // Numbered afresh: only the window's hosts, not every host the log has seen.
    ConnectionRecords records;
    records.add_from(logged, begin, [&](const ConnectionRecord& record) {
        return record.connection.last_seen >= cutoff;
    });
    tracker.for_each_connection([&](const Connection& connection) {
        // The tracker lets closed connections go by packet time; with no packets they stay. One
        // that still holds a port counts; one long done does not keep its host in the view.
        if (!is_open(connection.state()) && connection.last_seen < cutoff) return;
        assign_role_from_handshake(records.add(connection));
    });
    return records;
}

void LiveMonitor::count_started(const ConnectionRecords& records, Micros since, Micros until) {
    for (const ConnectionRecord& record : records) {
        const ConnectionActivity& connection = record.connection;
        if (connection.first_seen <= since || connection.first_seen > until) continue;
        (connection.protocol == Protocol::tcp ? tcp_started_ : udp_started_) += 1;
        ++started_per_destination_[{records.client(record).address, records.server(record),
                                    connection.protocol}];
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
    window.records = window_records(cutoff, tracker);
    window.capture = capture;
    window.capture.last = now;
    tracker.for_each_connection([&](const Connection& connection) {
        window.open_connections += is_open(connection.state());
    });
    window.tracked_connections = tracker.open_connections() + tracker.lingering_connections();
    window.failures = failures_;
    return window;
}

LiveSnapshot LiveMonitor::analyze(LiveWindow window) {
    const Micros now = window.time;
    ConnectionRecords& records = window.records;
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
    std::map<DestinationKey, DestinationActivity> activity;
    std::map<Address, ClientNow> clients;
    for (const ConnectionRecord& record : records) {
        const ConnectionActivity& connection = record.connection;
        const Address& client_address = records.address(record.client_host());
        ClientNow& client = clients[client_address];
        client.open += is_open(connection.state());
        if (connection.first_seen < window_start) continue;
        ++client.started;
        ++activity[{client_address, records.server(record), connection.protocol}].started_in_window;
    }

    for (const ClientSummary& summary : snapshot.window_report.clients.held()) {
        const std::uint32_t limit = summary.port_use.range.limit();
        ClientNow& client = clients[summary.address];
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
            destination.new_per_s = static_cast<double>(activity[key].started_in_window) / window_s;
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
