// Stage 4c, beside ports.hpp: whether one client address hides several hosts (a NAT gateway, a
// load balancer's outbound SNAT, a node masquerading its pods), from how its ports were allocated.
//
//   interleaved sequences  towards one destination, the ports rise along several sequences at
//                          once, each a host's own allocator behind a translator that keeps ports
//                          (Linux's masquerade does where it can). Their count is the hosts'.
//   translator ports       ports drawn at random from a span no operating system allocates from
//                          by default but translators do (Linux NAT's 1024-65535): several hosts
//                          may be behind it, and their own allocators are hidden.
//   SYN fingerprints       the SYNs carry several TTLs or TCP option layouts (p0f's signals),
//                          interleaved in time: hosts of different systems, or at different
//                          distances. Hosts alike in both look like one, so they count at least
//                          that many hosts.
//
// A single host never shows several sequences at once: a range it goes round starts a new
// sequence only after the last one ended, and random ports form no sequences.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "ephemera/analysis/roles.hpp"

namespace ephemera {

// both_sides: the capture holds the translator's inside too, and the address's connections were
// paired with the inside ones they carry (analysis/translation.hpp): the hosts are counted.
enum class SharedEvidence : std::uint8_t {
    none,
    interleaved_sequences,
    translator_ports,
    syn_fingerprints,
    both_sides
};
std::string_view shared_evidence_name(SharedEvidence evidence) noexcept;

struct SharedAddress {
    bool likely = false;
    SharedEvidence evidence = SharedEvidence::none;
    // Hosts counted behind the address: the interleaved sequences, or the SYN fingerprints where
    // they are more. 0 where they cannot be told (translator ports alone) or nothing points to
    // several.
    std::uint8_t hosts_estimate = 0;
    // Whether hosts_estimate is a lower bound (it came from the SYN fingerprints).
    bool hosts_at_least = false;
    // Distinct SYN fingerprints (TTL and option layout) that each held enough of the SYNs,
    // interleaved in time: 2 or more show several hosts, whatever the evidence above.
    std::uint8_t syn_fingerprints = 0;
    std::uint8_t fingerprint_layouts = 0;            // distinct option layouts among them
    std::array<std::uint8_t, 4> fingerprint_ttls{};  // distinct TTLs among them, lowest first
    // The destination the sequences were found towards (the index in `connections` of its first
    // connection, and its endpoint once the caller has looked it up), its connections, and the
    // share of them the sequences hold.
    std::uint32_t destination_first = 0;
    Endpoint destination;
    std::uint32_t destination_connections = 0;
    float sequences_share = 0;
};

// The fewest connections to one destination the sequences are looked for in, the fewest ports a
// sequence has, and the share of the destination's connections they must hold between them.
inline constexpr std::size_t min_connections_for_sequences = 20;
inline constexpr std::uint32_t min_sequence_length = 5;
inline constexpr double min_sequences_share = 0.8;
// The SYNs a fingerprint must carry to count, and the times, in start order, the SYNs must pass
// from one counted fingerprint to another (a host whose route changed once passes once).
inline constexpr std::uint32_t min_fingerprint_syns = 5;
inline constexpr std::uint32_t min_fingerprint_switches = 3;

// A SYN's fingerprint: the TTL as captured and the option layout, in one key (0: not known).
// `connection`: a ConnectionActivity or the log's record of one.
template <typename Activity>
std::uint16_t syn_fingerprint(const Activity& connection) noexcept {
    return static_cast<std::uint16_t>(connection.syn_ttl << 8 | connection.syn_option_layout);
}

// The SYN fingerprints of a client's connections, tallied one at a time in start order: the SYNs
// each of the first max_fingerprints carried (more is a crowd, counted as that many), and the
// order they came in, as runs of one fingerprint, until enough switches between frequent ones
// (min_fingerprint_syns SYNs or more) are certain. Frequent ones only become more, and more of
// them never switch less, so that stays certain. Until then the rarer ones' few SYNs and the
// switches bound the runs kept to a few hundred, however many connections there are.
class FingerprintTally {
  public:
    static constexpr std::size_t max_fingerprints = 32;

    void add(std::uint16_t fingerprint);
    void clear();
    // The fingerprints with min_fingerprint_syns SYNs or more, in order of first appearance.
    std::vector<std::uint16_t> frequent() const;
    // Whether the SYNs passed from one frequent fingerprint to another min_fingerprint_switches
    // times or more, in start order.
    bool switched_enough() const;

  private:
    struct Seen {
        std::uint16_t key;
        std::uint32_t syns;
    };
    bool is_frequent(std::uint16_t fingerprint) const;

    std::vector<Seen> seen_;
    std::vector<std::uint16_t> runs_;  // each run's fingerprint, while switches are not certain
    bool switched_enough_ = false;
};

// One client's TCP connections whose SYN the capture holds, oldest first, as the detection reads
// them: gathered once into flat arrays (the records themselves lie far apart in the log).
struct AllocatedConnections {
    std::vector<std::uint16_t> ports;  // the client's port
    FingerprintTally fingerprints;     // syn_fingerprint
    // A number per destination (the small numbers ports.cpp's server_keys gives them, which let
    // them be grouped by a counting sort).
    std::span<const std::uint64_t> servers;
};

// `random`: whether the client's allocator's fingerprint is random.
SharedAddress detect_shared_address(const AllocatedConnections& connections, bool random);

}  // namespace ephemera
