// Stage 4d, for `ephemera live`: the analysis of a capture that never ends. Finished connections
// are logged as for `analyze` (the final report is build_report over them); every interval,
// build_report also runs over a window (connections still in the tracker plus those that ended
// recently enough to hold a port in TIME_WAIT or count in the window's rates), and the result is
// condensed to what is happening now: ports occupied per destination, new connections per
// second, running totals, and alerts when a destination crosses the threshold.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "ephemera/analysis/summary.hpp"

namespace ephemera {

struct LiveMonitorOptions {
    PortAnalysisOptions ports;
    ScanOptions scans;
    Micros window = 60'000'000;  // rates are over this; idle hosts leave the view after it
    double alert_at = 0.8;
    std::size_t max_records = 1'000'000;  // finished connections kept for the final report
};

// One (client, destination) pair as it stands now.
struct DestinationNow {
    Address client;
    Endpoint server;
    Protocol protocol = Protocol::tcp;
    std::uint32_t occupied = 0;       // open or in the client's TIME_WAIT now
    std::uint32_t range_size = 0;     // the client's ephemeral range
    double utilization = 0.0;         // occupied / range_size
    std::uint32_t peak_occupied = 0;  // the most at once within the window
    double new_per_s = 0.0;           // connections started, over the window
    double sustainable_per_s = 0.0;   // range / TIME_WAIT
    Verdict verdict = Verdict::ok;
    std::uint64_t connections_total = 0;  // started since the capture began
};

struct ClientNow {
    Address address;
    std::uint64_t started = 0;  // connections started within the window
    double new_per_s = 0.0;
    std::uint32_t open = 0;
    std::uint32_t destinations = 0;
    RangeEstimate range;
    double utilization = 0.0;  // its worst destination's, now
    Verdict verdict = Verdict::ok;
};

// A destination crossing the alert threshold one way or the other.
struct AlertChange {
    DestinationNow destination;
    bool raised = false;  // false: it fell back below
};

struct LiveSnapshot {
    Micros time = 0;     // now
    Micros started = 0;  // when monitoring began
    Micros window = 0;
    Report window_report;                      // build_report over the window
    std::vector<DestinationNow> destinations;  // highest utilization now first
    std::vector<ClientNow> clients;            // busiest (new connections) first
    std::uint64_t open_connections = 0;        // open or half-closed now
    std::uint64_t tracked_connections = 0;     // in the tracker's table, or closed and lingering
    std::uint64_t tcp_started_total = 0;
    std::uint64_t udp_started_total = 0;
    std::map<Address, FailureStats> failures;  // by client, since the start
    std::vector<AlertChange> alerts;           // since the previous snapshot
};

// What a refresh needs from the capture, copied out of the tracker and the log so the analysis
// can run on another thread while capturing goes on.
struct LiveWindow {
    Micros time = 0;            // now
    Micros packets_until = 0;   // the last packet's time (CaptureSummary::last as read)
    ConnectionRecords records;  // the window's connections from the log, its hosts numbered afresh
    // The tracker's connections, copied as they are: the open ones in the window, and every
    // closed one still lingering (its failures count, in the window or not). analyze() adds those
    // in the window to `records`: widening and numbering their hosts (a lookup per address) is
    // work the capturing thread is spared.
    std::vector<Connection> open;
    ConnectionTracker::LingeringCopy lingering;
    Micros cutoff = 0;       // a closed connection last seen before it is out of the window
    CaptureSummary capture;  // last = time: open connections and TIME_WAIT run until now
    std::uint64_t open_connections = 0;
    std::uint64_t tracked_connections = 0;
    // By client, since the start: those of the connections the tracker let go (analyze() adds the
    // lingering ones').
    std::map<Address, FailureStats> failures;
};

class LiveMonitor : public ConnectionSink {
  public:
    LiveMonitor(LiveMonitorOptions options, Micros started);

    // From the tracker: a finished connection.
    void on_connection(const Connection& connection) override;

    // A refresh in two halves. take_window copies what the refresh reads (on the thread that
    // feeds the tracker, between packets); analyze turns it into the view as of its time: the
    // window's report and what is occupied now, counting the connections that started since the
    // previous refresh into the totals and raising or clearing alerts. analyze may run on
    // another thread, one refresh at a time and in the order the windows were taken; the two
    // halves share no state.
    LiveWindow take_window(Micros now, const ConnectionTracker& tracker,
                           const CaptureSummary& capture);
    LiveSnapshot analyze(LiveWindow window);
    // Both halves at once.
    LiveSnapshot snapshot(Micros now, const ConnectionTracker& tracker,
                          const CaptureSummary& capture) {
        return analyze(take_window(now, tracker, capture));
    }

    const LiveMonitorOptions& options() const noexcept { return options_; }
    // Every finished connection kept (see max_records), for the final report.
    ConnectionLog& log() noexcept { return log_; }

  private:
    using DestinationKey = std::tuple<Address, Endpoint, Protocol>;

    ConnectionRecords logged_in_window(Micros cutoff);
    void count_started(const ConnectionRecords& records, Micros since, Micros until);
    std::vector<AlertChange> update_alerts(const std::vector<DestinationNow>& destinations);

    LiveMonitorOptions options_;
    Micros started_;
    // take_window's, with the tracker's thread.
    ConnectionLog log_;
    std::uint64_t window_begin_ = 0;  // index into the log, counting dropped records
    std::map<Address, FailureStats> failures_;
    // analyze's.
    Micros counted_until_ = 0;  // starts up to here are in the totals
    std::map<DestinationKey, std::uint64_t> started_per_destination_;
    std::uint64_t tcp_started_ = 0;
    std::uint64_t udp_started_ = 0;
    std::set<DestinationKey> alerting_;
};

}  // namespace ephemera
