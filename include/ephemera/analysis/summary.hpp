// Stage 4b: connection records -> the report model: per-client and per-server tallies.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "ephemera/analysis/finding.hpp"
#include "ephemera/analysis/ports.hpp"
#include "ephemera/analysis/roles.hpp"
#include "ephemera/analysis/translation.hpp"
#include "ephemera/core/fresh_memory.hpp"
#include "ephemera/decode/decode.hpp"
#include "ephemera/track/capture_summary.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {

struct PortStats {
    std::uint32_t distinct = 0;
    std::uint16_t min = 0;
    std::uint16_t max = 0;
};

struct ClientSummary {
    Address address;
    std::string segment;  // with --split-segments, its segment's name (segment_name); else empty
    std::uint64_t tcp_connections = 0;
    std::uint64_t udp_flows = 0;
    PortStats ports;
    std::uint32_t servers = 0;              // distinct (address, port, protocol) it talked to
    std::array<std::uint64_t, 7> states{};  // indexed by ConnectionState
    ClientPorts port_use;                   // range, allocation, reuse, exhaustion, failures

    std::uint64_t connections() const noexcept { return tcp_connections + udp_flows; }
};

struct ServerSummary {
    Endpoint endpoint;
    std::string segment;  // as ClientSummary::segment
    Protocol protocol = Protocol::tcp;
    std::uint64_t connections = 0;
    std::uint32_t clients = 0;  // distinct client addresses
    std::uint32_t client_ports = 0;
};

// A source whose TCP connections are nearly all probes (no payload either way, refused,
// unanswered or reset at once) to many distinct ports.
struct ScanSummary {
    Address source;
    std::uint32_t hosts = 0;  // distinct addresses probed
    std::uint32_t ports = 0;  // distinct (address, port) probed
    std::uint64_t probes = 0;
    std::uint64_t answered = 0;  // probes the target answered with SYN-ACK: open ports
    Micros first = 0;
    Micros last = 0;
};

struct ScanOptions {
    std::uint32_t min_ports = 100;  // distinct ports probed
    double min_probe_share = 0.8;   // of the source's TCP connections
};

// The report's clients, closest to exhaustion first, then busiest. Held: every summary in memory
// (live's windows, the tests, and any report of up to 16,384 clients). On demand (the build_report
// that keeps the records, past that many clients): a summary is computed again from the records
// each time it is asked for, so a capture's million clients cost
// the records they come from plus about 40 bytes each, not the 700 of a summary. What the report
// needs of every client (its rank, the worst verdict, its findings) is kept from the one pass that
// computed them all.
class ClientList {
  public:
    class Source;  // what on-demand summaries are computed from (summary.cpp)

    class const_iterator {
      public:
        using value_type = ClientSummary;
        using difference_type = std::ptrdiff_t;
        const_iterator(const ClientList* list, std::size_t rank) : list_(list), rank_(rank) {}
        ClientSummary operator*() const { return (*list_)[rank_]; }
        const_iterator& operator++() noexcept {
            ++rank_;
            return *this;
        }
        bool operator==(const const_iterator& other) const noexcept = default;

      private:
        const ClientList* list_;
        std::size_t rank_;
    };

    ClientList() = default;
    explicit ClientList(std::shared_ptr<const Source> source);

    std::size_t size() const noexcept;
    bool empty() const noexcept { return size() == 0; }
    // The summary at `rank`: a copy where held, computed where on demand. Safe to call from
    // several threads at once.
    ClientSummary operator[](std::size_t rank) const;
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, size()}; }
    // The worst exhaustion verdict among the clients; unknown without any.
    Verdict worst_verdict() const noexcept;

    bool on_demand() const noexcept { return source_ != nullptr; }
    // Held only: the summaries themselves, to fill or read without copies.
    std::vector<ClientSummary>& held() noexcept { return held_; }
    const std::vector<ClientSummary>& held() const noexcept { return held_; }
    // On demand only: every client's findings (add_client_findings), subjects being ranks, in
    // rank order.
    std::span<const Finding> findings() const noexcept;

  private:
    std::vector<ClientSummary> held_;
    std::shared_ptr<const Source> source_;
};

struct Report {
    CaptureSummary capture;
    std::vector<std::string> warnings;
    std::uint64_t tcp_connections = 0;
    std::uint64_t udp_flows = 0;
    std::array<std::uint64_t, 7> states{};
    std::array<std::uint64_t, role_reason_count> role_reasons{};
    ClientList clients;                     // closest to exhaustion first, then busiest
    std::vector<ServerSummary> servers;     // busiest first
    std::vector<ScanSummary> scans;         // left out of clients and servers
    std::vector<Translation> translations;  // NATs whose both sides the capture holds
    double warning_at = 0.5;                // the verdict thresholds the analysis used
    double critical_at = 0.8;
    double exhausted_at = 1.0;
};

// Collects finished connections from the tracker and gives each its handshake role at once.
// With max_records, the oldest eighth is dropped whenever the log is full (a live capture that
// runs for days); dropped() counts them.
class ConnectionLog : public ConnectionSink, public GrowsIntoFreshMemory {
  public:
    explicit ConnectionLog(std::size_t max_records = SIZE_MAX);
    void on_connection(const Connection& connection) override;
    // The records about to be written for the first time, while the log grows.
    std::span<std::byte> fresh_memory_ahead() const noexcept override;
    ConnectionRecords& records() noexcept { return records_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

  private:
    ConnectionRecords records_;
    std::size_t max_records_;
    std::uint64_t dropped_ = 0;
};

// Whether `a` started before `b` (both of `records`): by first packet, then endpoints, then place
// in the log.
bool starts_before(const ConnectionRecords& records, const ConnectionRecord* a,
                   const ConnectionRecord* b) noexcept;
// Orders `connections` (of `records`) as starts_before does. Fast where they are nearly in that
// order already, as the log's are: it holds connections in the order they left the tracker.
void sort_by_start(const ConnectionRecords& records,
                   std::span<const ConnectionRecord*> connections);
// Every record, as sort_by_start orders them (for the CSV output: build_report does not need it).
std::vector<const ConnectionRecord*> oldest_first(const ConnectionRecords& records);

// Finishes the roles and tallies the records, in any order (as the log has them: by end).
// Handshake roles are given first to records added without one.
// "vlan:100/vxlan:42": the VLANs and tunnels of segment `number` (Address::segment), outermost
// first, each with its id where it has one; empty for 0 (no segment).
std::string segment_name(const CaptureSummary& capture, std::uint8_t number);

Report build_report(ConnectionRecords& records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options);
// Up to this many clients, a report holds their summaries even where it could compute them again
// on demand: about 11 MiB at 700 bytes each, and no second computation.
inline constexpr std::size_t default_max_clients_held = 16384;

// The same report with its clients on demand (ClientList) where there are more than
// `max_clients_held`: it keeps `records`, which must not change after this call.
Report build_report(std::shared_ptr<ConnectionRecords> records, CaptureSummary capture,
                    std::vector<std::string> warnings, const PortAnalysisOptions& options,
                    const ScanOptions& scan_options,
                    std::size_t max_clients_held = default_max_clients_held);

}  // namespace ephemera
