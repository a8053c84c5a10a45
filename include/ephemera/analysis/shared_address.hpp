// Stage 4c, beside ports.hpp: whether one client address hides several hosts (a NAT gateway, a
// load balancer's outbound SNAT, a node masquerading its pods), from how its ports were allocated.
//
//   interleaved sequences  towards one destination, the ports rise along several sequences at
//                          once, each a host's own allocator behind a translator that keeps ports
//                          (Linux's masquerade does where it can). Their count is the hosts'.
//   translator ports       ports drawn at random from a span no operating system allocates from
//                          by default but translators do (Linux NAT's 1024-65535): several hosts
//                          may be behind it, and their own allocators are hidden.
//
// A single host never shows several sequences at once: a range it goes round starts a new
// sequence only after the last one ended, and random ports form no sequences.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "ephemera/analysis/roles.hpp"

namespace ephemera {

// both_sides: the capture holds the translator's inside too, and the address's connections were
// paired with the inside ones they carry (analysis/translation.hpp): the hosts are counted.
enum class SharedEvidence : std::uint8_t {
    none,
    interleaved_sequences,
    translator_ports,
    both_sides
};
std::string_view shared_evidence_name(SharedEvidence evidence) noexcept;

struct SharedAddress {
    bool likely = false;
    SharedEvidence evidence = SharedEvidence::none;
    // Hosts counted behind the address: the interleaved sequences. 0 where they cannot be told
    // (translator ports) or nothing points to several.
    std::uint8_t hosts_estimate = 0;
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

// `connections`: one client's TCP connections whose SYN the capture holds, oldest first, and
// `servers` a number per destination (the small numbers ports.cpp's server_keys gives them, which
// let them be grouped by a counting sort);
// `random`: whether its allocator's fingerprint is random.
SharedAddress detect_shared_address(std::span<const ConnectionRecord* const> connections,
                                    std::span<const std::uint64_t> servers, bool random);

}  // namespace ephemera
