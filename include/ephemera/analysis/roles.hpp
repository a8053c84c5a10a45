// Stage 4a: who is the client of each connection, and why.
//
// Evidence, strongest first:
//   syn           the sender of a pure SYN is the client
//   syn-ack       the sender of a SYN-ACK is the server
//   known-service the endpoint was the server (or the other one the client) of a connection whose
//                 handshake the capture holds
//   registered-service  a port registered for a service (analysis/service_ports.hpp) facing a
//                 port >= 1024 outside that table, or a service's fixed client port (DHCP 68 -> 67)
//   fan-in        an address:port that several peer ports talk to is a service, when its peer
//                 talks to one peer port only (or to at most half as many)
//   service-port  a well-known port (< 1024) facing a port >= 1024, or a registered port
//                 (< 32768) facing one at or above 32768, where every common ephemeral range starts
//   lower-port    TCP, last resort: the lower port is the server
//   first-sender  UDP, last resort: the sender of the first datagram is the client
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "ephemera/analysis/numbering.hpp"
#include "ephemera/core/large_buffer.hpp"
#include "ephemera/track/connection.hpp"
#include "ephemera/track/narrow_activity.hpp"

namespace ephemera {

enum class RoleReason : std::uint8_t {
    syn,
    syn_ack,
    known_service,
    registered_service,
    fan_in,
    service_port,
    lower_port,
    first_sender,
};
inline constexpr std::size_t role_reason_count = 8;  // ConnectionRecord holds one in 3 bits

std::string_view role_reason_name(RoleReason reason) noexcept;

// One finished connection as the log keeps it, in 56 bytes: a capture's million clients hold 3
// million records. Its endpoints are host numbers (in the ConnectionRecords that holds it) and
// ports, by side. Its times after the first packet and its counts take 32 bits each: a record
// whose values do not all fit is `wide`, and its ConnectionRecords keeps them whole beside it
// (activity(), last_seen(), close_time()). The narrowing rules are track/narrow_activity.hpp's,
// which reads the fields below by name; the TCP evidence is ConnectionActivity's.
struct ConnectionRecord {
    Micros first_seen = 0;
    std::uint32_t last_seen_after = 0;  // last_seen - first_seen, where not wide
    std::uint32_t close_after = 0;      // close_time - first_seen + 1 (0: no close_time), ditto
    std::array<std::uint32_t, 2> packets_saturated{};
    std::array<std::uint32_t, 2> payload_bytes_saturated{};
    std::uint32_t syn_sequence = 0;
    std::array<std::uint32_t, 2> host{};
    std::array<std::uint16_t, 2> port{};
    std::uint16_t syn_retransmissions = 0;
    Protocol protocol = Protocol::tcp;
    std::uint8_t syn_ttl = 0;
    std::uint8_t syn_option_layout = 0;
    std::int8_t syn_side : 2 = no_side;
    std::int8_t syn_ack_side : 2 = no_side;
    std::int8_t first_fin_side : 2 = no_side;
    std::int8_t rst_side : 2 = no_side;
    EndReason end_reason : 2 = EndReason::capture_end;
    bool fin_from_0 : 1 = false;
    bool fin_from_1 : 1 = false;
    bool stale_ack : 1 = false;
    bool time_wait_collision : 1 = false;
    bool wide : 1 = false;             // values kept whole by the ConnectionRecords
    std::uint8_t client_side : 1 = 0;  // index into host and port
    RoleReason role_reason : 3 = RoleReason::lower_port;
    bool role_from_handshake : 1 = false;

    bool fin(int side) const noexcept { return side == 0 ? fin_from_0 : fin_from_1; }
    bool sent(int side) const noexcept { return packets_saturated[side] > 0; }
    ConnectionState state() const noexcept { return state_of(*this); }

    std::uint32_t client_host() const noexcept { return host[client_side]; }
    std::uint32_t server_host() const noexcept { return host[1 - client_side]; }
    std::uint16_t client_port() const noexcept { return port[client_side]; }
    std::uint16_t server_port() const noexcept { return port[1 - client_side]; }
    // Host number and port in one word: equal exactly when the endpoints are.
    static std::uint64_t endpoint_key(std::uint32_t host, std::uint16_t port) noexcept {
        return std::uint64_t{host} << 16 | port;
    }
    std::uint64_t server_key() const noexcept { return endpoint_key(server_host(), server_port()); }
};
static_assert(sizeof(ConnectionRecord) == 56, "ConnectionRecord has grown padding or a field");

// Every finished connection of a capture (hundreds of megabytes on a busy one), and the hosts
// they were between, each address once.
class ConnectionRecords {
  public:
    using Storage = std::vector<ConnectionRecord, LargeBufferAllocator<ConnectionRecord>>;

    // Appends `connection`, numbering its hosts; the role is left for the caller to assign.
    ConnectionRecord& add(const Connection& connection);
    // Appends a copy of `record`, one of `from`, numbering its hosts here.
    ConnectionRecord& add(const ConnectionRecords& from, const ConnectionRecord& record);
    // Appends copies of the records of `from` from index `begin` on that `keep` accepts,
    // numbering their hosts here: each host of `from` is looked up once, not once per record.
    template <typename Keep>
    void add_from(const ConnectionRecords& from, std::size_t begin, Keep keep);

    // The whole activity of `record` (one of these), as the tracker knew it.
    ConnectionActivity activity(const ConnectionRecord& record) const;
    Micros last_seen(const ConnectionRecord& record) const {
        return narrow_last_seen(record, wide_of(record));
    }
    Micros close_time(const ConnectionRecord& record) const {
        return narrow_close_time(record, wide_of(record));
    }

    const Address& address(std::uint32_t host) const { return hosts_.key(host); }
    // Every host number, in address order.
    std::vector<std::uint32_t> hosts_in_address_order() const { return hosts_.in_key_order(); }
    std::size_t host_count() const noexcept { return hosts_.size(); }
    // The number of the host at `address`, if any record names it.
    std::optional<std::uint32_t> find_host(const Address& address) const {
        return hosts_.find(address);
    }
    // Frees what numbering new hosts takes (a table as large as the addresses) where no record
    // is to be added for a while, as once a capture is read; add() works after it, slower once.
    void stop_numbering_hosts() { hosts_.drop_index(); }

    Endpoint endpoint(const ConnectionRecord& record, int side) const {
        return {address(record.host[side]), record.port[side]};
    }
    Endpoint client(const ConnectionRecord& record) const {
        return endpoint(record, record.client_side);
    }
    Endpoint server(const ConnectionRecord& record) const {
        return endpoint(record, 1 - record.client_side);
    }

    std::size_t size() const noexcept { return records_.size(); }
    bool empty() const noexcept { return records_.empty(); }
    ConnectionRecord& operator[](std::size_t index) { return records_[index]; }
    const ConnectionRecord& operator[](std::size_t index) const { return records_[index]; }
    ConnectionRecord& back() { return records_.back(); }
    const ConnectionRecord& back() const { return records_.back(); }
    Storage::iterator begin() noexcept { return records_.begin(); }
    Storage::iterator end() noexcept { return records_.end(); }
    Storage::const_iterator begin() const noexcept { return records_.begin(); }
    Storage::const_iterator end() const noexcept { return records_.end(); }
    void reserve(std::size_t count) { records_.reserve(count); }
    Storage& storage() noexcept { return records_; }
    const Storage& storage() const noexcept { return records_; }
    // Drops the oldest `count` records. Hosts no record names any more are forgotten once they
    // are most of the table, so a log that keeps dropping (a live run of days) stays bounded by
    // its records, not by every host it has seen.
    void drop_oldest(std::size_t count);

  private:
    std::size_t index_of(const ConnectionRecord& record) const noexcept {
        return static_cast<std::size_t>(&record - records_.data());
    }
    // What a wide record keeps here; null for the others.
    const WideActivity* wide_of(const ConnectionRecord& record) const {
        return record.wide ? &wide_.at(index_of(record)) : nullptr;
    }
    // Makes `activity` the activity of `record` (one of these), just appended.
    void set_activity(ConnectionRecord& record, const ConnectionActivity& activity);
    // Copies the wide values of `record` of `from` to the record just appended here.
    void copy_wide(const ConnectionRecords& from, const ConnectionRecord& record);

    Storage records_;
    Numbering<Address, AddressHash> hosts_;
    // By record index: few records are wide (a connection of over an hour, 4 GiB or 4 billion
    // packets one way, or whose clock went backwards), so a map costs nothing for the rest.
    std::map<std::size_t, WideActivity> wide_;
};

template <typename Keep>
void ConnectionRecords::add_from(const ConnectionRecords& from, std::size_t begin, Keep keep) {
    constexpr std::uint32_t not_yet = UINT32_MAX;
    std::vector<std::uint32_t> number_here(from.host_count(), not_yet);
    records_.reserve(records_.size() + (from.size() - std::min(begin, from.size())));
    for (std::size_t i = begin; i < from.size(); ++i) {
        if (!keep(from[i])) continue;
        ConnectionRecord& copy = records_.emplace_back(from[i]);
        if (copy.wide) copy_wide(from, from[i]);
        for (std::uint32_t& host : copy.host) {
            std::uint32_t& here = number_here[host];
            if (here == not_yet) here = hosts_.number(from.address(host));
            host = here;
        }
    }
}

// The server's side (0 or 1) as the handshake alone says, for a record or an activity: the
// other side than a pure SYN's sender, else a SYN-ACK's sender; no_side for UDP, or where the
// capture holds neither.
template <typename Activity>
int server_side_by_handshake(const Activity& activity) noexcept {
    if (activity.protocol != Protocol::tcp) return no_side;
    if (activity.syn_side != no_side) return 1 - activity.syn_side;
    return activity.syn_ack_side;
}

// The handshake alone decides; false when the capture holds neither SYN nor SYN-ACK.
bool assign_role_from_handshake(ConnectionRecord& record) noexcept;

// Gives every record without a handshake role one: from its handshake where it has one and its
// role was not assigned from it yet, else from what all records together show.
void assign_roles_by_heuristics(ConnectionRecords& records);

}  // namespace ephemera
