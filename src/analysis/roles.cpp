#include "ephemera/analysis/roles.hpp"

#include <algorithm>
#include <array>

#include "ephemera/analysis/numbering.hpp"
#include "ephemera/analysis/service_ports.hpp"
#include "ephemera/analysis/two_cores.hpp"

namespace ephemera {
namespace {

std::size_t protocol_index(Protocol protocol) noexcept {
    return protocol == Protocol::tcp ? 0 : 1;
}

// Evidence about one endpoint (protocol, address, port) from every connection it was seen in.
struct EndpointEvidence {
    std::uint32_t distinct_peer_ports = 0;
    std::uint32_t times_server = 0;
    std::uint32_t times_client = 0;
};

class EvidenceTable {
  public:
    // Evidence about the endpoints of `protocols` only: those the records that need it use.
    // Looked up by position in `undecided` (ascending record indices): the records that need it.
    EvidenceTable(const ConnectionRecords& records, const std::array<bool, 2>& protocols,
                  const std::vector<std::uint32_t>& undecided)
        : evidence_of_(2 * undecided.size(), no_evidence) {
        // One side of one connection, as seen from that side: its endpoint key and the peer's
        // port in one word, so sorting groups each endpoint's peer ports together.
        struct Sighting {
            std::uint64_t key;
            std::uint32_t undecided_side;  // 2 * position in `undecided` + side, or no_evidence
            std::int8_t handshake_role;    // +1 was the server, -1 the client, 0 no handshake
        };
        std::vector<Sighting> sightings;
        sightings.reserve(2 * undecided.size());  // at least: their protocols' decided add more
        const auto add_sightings = [&](const ConnectionRecord& record, std::uint32_t undecided_at) {
            for (int side = 0; side < 2; ++side) {
                std::int8_t role = 0;
                if (record.role_from_handshake) role = side == record.client_side ? -1 : +1;
                // Protocol, host number and port in 48 bits, the peer's port below them.
                const std::uint64_t endpoint =
                    std::uint64_t{protocol_index(record.protocol)} << 47 |
                    std::uint64_t{record.host[side]} << 16 | record.port[side];
                const auto undecided_side =
                    undecided_at == no_evidence
                        ? no_evidence
                        : static_cast<std::uint32_t>(2 * undecided_at + side);
                sightings.push_back({endpoint << 16 | record.port[1 - side], undecided_side, role});
            }
        };
        if (!protocols[protocol_index(Protocol::tcp)]) {
            // UDP has no handshake, so every UDP record is undecided: they are all the evidence.
            for (std::size_t position = 0; position < undecided.size(); ++position) {
                add_sightings(records[undecided[position]], static_cast<std::uint32_t>(position));
            }
        } else {
            std::size_t next_undecided = 0;
            for (std::size_t i = 0; i < records.size(); ++i) {
                const bool needs_evidence =
                    next_undecided < undecided.size() && undecided[next_undecided] == i;
                const std::uint32_t position =
                    needs_evidence ? static_cast<std::uint32_t>(next_undecided++) : no_evidence;
                if (protocols[protocol_index(records[i].protocol)]) {
                    add_sightings(records[i], position);
                }
            }
        }
        // Sightings of one key may end in any order: they add to the same counts.
        sort_on_two_cores(sightings,
                          [](const Sighting& a, const Sighting& b) { return a.key < b.key; });
        for (std::size_t at = 0; at < sightings.size(); ++at) {
            const Sighting& sighting = sightings[at];
            const bool new_endpoint = at == 0 || sightings[at - 1].key >> 16 != sighting.key >> 16;
            if (new_endpoint) evidence_.emplace_back();
            EndpointEvidence& evidence = evidence_.back();
            if (new_endpoint || sightings[at - 1].key != sighting.key) {
                ++evidence.distinct_peer_ports;
            }
            if (sighting.handshake_role > 0) ++evidence.times_server;
            if (sighting.handshake_role < 0) ++evidence.times_client;
            if (sighting.undecided_side != no_evidence) {
                evidence_of_[sighting.undecided_side] =
                    static_cast<std::uint32_t>(evidence_.size() - 1);
            }
        }
    }

    // What all records show about one side of the record undecided[position].
    const EndpointEvidence& of(std::size_t position, int side) const {
        return evidence_[evidence_of_[2 * position + side]];
    }

  private:
    static constexpr std::uint32_t no_evidence = UINT32_MAX;

    std::vector<EndpointEvidence> evidence_;
    std::vector<std::uint32_t> evidence_of_;  // per record and side, an index into evidence_
};

// Returns the side that is the server, or no_side when the rule cannot tell.
int server_by_known_service(const EndpointEvidence& a, const EndpointEvidence& b) {
    const bool a_server = a.times_server > 0 && a.times_client == 0;
    const bool b_server = b.times_server > 0 && b.times_client == 0;
    if (a_server != b_server) return a_server ? 0 : 1;
    const bool a_client = a.times_client > 0 && a.times_server == 0;
    const bool b_client = b.times_client > 0 && b.times_server == 0;
    if (a_client != b_client) return a_client ? 1 : 0;
    return no_side;
}

int server_by_fan_in(const EndpointEvidence& a, const EndpointEvidence& b) {
    const std::uint32_t fan_a = a.distinct_peer_ports;
    const std::uint32_t fan_b = b.distinct_peer_ports;
    if (fan_a >= 2 && fan_a >= 2 * fan_b) return 0;
    if (fan_b >= 2 && fan_b >= 2 * fan_a) return 1;
    return no_side;
}

int server_by_service_port(std::uint16_t port_a, std::uint16_t port_b) {
    for (const std::uint16_t tier : {std::uint16_t{1024}, std::uint16_t{32768}}) {
        if (port_a < tier && port_b >= tier) return 0;
        if (port_b < tier && port_a >= tier) return 1;
    }
    return no_side;
}

void set_role(ConnectionRecord& record, int server_side, RoleReason reason) {
    record.client_side = static_cast<std::uint8_t>(1 - server_side);
    record.role_reason = reason;
}

}  // namespace

std::string_view role_reason_name(RoleReason reason) noexcept {
    switch (reason) {
        case RoleReason::syn:
            return "syn";
        case RoleReason::syn_ack:
            return "syn-ack";
        case RoleReason::known_service:
            return "known-service";
        case RoleReason::registered_service:
            return "registered-service";
        case RoleReason::fan_in:
            return "fan-in";
        case RoleReason::service_port:
            return "service-port";
        case RoleReason::lower_port:
            return "lower-port";
        case RoleReason::first_sender:
            return "first-sender";
    }
    return "unknown";
}

ConnectionActivity ConnectionRecords::activity(const ConnectionRecord& record) const {
    return load_narrow(record, wide_of(record));
}

void ConnectionRecords::set_activity(ConnectionRecord& record, const ConnectionActivity& activity) {
    const bool was_wide = record.wide;
    if (std::optional<WideActivity> wide = store_narrow(activity, record)) {
        wide_[index_of(record)] = *wide;
    } else if (was_wide) {
        wide_.erase(index_of(record));
    }
}

ConnectionRecord& ConnectionRecords::add(const Connection& connection) {
    ConnectionRecord& record = records_.emplace_back();
    set_activity(record, connection);
    for (int side = 0; side < 2; ++side) {
        record.host[side] = hosts_.number(connection.endpoint[side].address);
        record.port[side] = connection.endpoint[side].port;
    }
    return record;
}

void ConnectionRecords::copy_wide(const ConnectionRecords& from, const ConnectionRecord& record) {
    wide_[records_.size() - 1] = *from.wide_of(record);
}

ConnectionRecord& ConnectionRecords::add(const ConnectionRecords& from,
                                         const ConnectionRecord& record) {
    records_.push_back(record);
    if (record.wide) copy_wide(from, record);
    for (int side = 0; side < 2; ++side) {
        records_.back().host[side] = hosts_.number(from.address(record.host[side]));
    }
    return records_.back();
}

void ConnectionRecords::drop_oldest(std::size_t count) {
    records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(count));
    if (!wide_.empty()) {
        std::map<std::size_t, WideActivity> kept;
        for (const auto& [index, values] : wide_) {
            if (index >= count) kept.emplace_hint(kept.end(), index - count, values);
        }
        wide_ = std::move(kept);
    }
    // Each record names two hosts: past twice that (and a little), renumber what is named. After
    // a renumbering at most two hosts per record remain, so the next one waits for as many new
    // hosts again: O(1) per record.
    constexpr std::size_t slack = 64;
    if (hosts_.size() <= 4 * records_.size() + slack) return;
    Numbering<Address, AddressHash> named;
    for (ConnectionRecord& record : records_) {
        for (std::uint32_t& host : record.host) host = named.number(hosts_.key(host));
    }
    hosts_ = std::move(named);
}

bool assign_role_from_handshake(ConnectionRecord& record) noexcept {
    const int server = server_side_by_handshake(record);
    if (server == no_side) return false;
    set_role(record, server, record.syn_side != no_side ? RoleReason::syn : RoleReason::syn_ack);
    record.role_from_handshake = true;
    return true;
}

void assign_roles_by_heuristics(ConnectionRecords& records) {
    // Records are added without a role (ConnectionRecords::add leaves it to the caller): those
    // whose caller did not look at their handshake get it here.
    std::array<bool, 2> without_handshake{};
    std::vector<std::uint32_t> undecided;
    for (std::size_t i = 0; i < records.size(); ++i) {
        ConnectionRecord& record = records[i];
        if (record.role_from_handshake || assign_role_from_handshake(record)) continue;
        without_handshake[protocol_index(record.protocol)] = true;
        undecided.push_back(static_cast<std::uint32_t>(i));
    }
    if (undecided.empty()) return;
    const EvidenceTable table(records, without_handshake, undecided);
    for (std::size_t position = 0; position < undecided.size(); ++position) {
        ConnectionRecord& record = records[undecided[position]];
        const EndpointEvidence& a = table.of(position, 0);
        const EndpointEvidence& b = table.of(position, 1);
        if (int server = server_by_known_service(a, b); server != no_side) {
            set_role(record, server, RoleReason::known_service);
        } else if (server = server_by_registered_service(record.protocol, record.port[0],
                                                         record.port[1]);
                   server != no_side) {
            set_role(record, server, RoleReason::registered_service);
        } else if (server = server_by_fan_in(a, b); server != no_side) {
            set_role(record, server, RoleReason::fan_in);
        } else if (server = server_by_service_port(record.port[0], record.port[1]);
                   server != no_side) {
            set_role(record, server, RoleReason::service_port);
        } else if (record.protocol == Protocol::udp) {
            set_role(record, 1, RoleReason::first_sender);
        } else {
            set_role(record, record.port[0] <= record.port[1] ? 0 : 1, RoleReason::lower_port);
        }
    }
}

}  // namespace ephemera
