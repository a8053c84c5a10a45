// Stage 4e: both sides of a translator in one capture (a router's `-i any`, or an inside and an
// outside capture read together). Each outside connection is paired with the inside connection it
// translates: the same service and protocol, the same initial TCP sequence number (a masquerading
// NAT keeps it), starts within pairing_tolerance, both answered, and the same payload each way. Of
// two paired connections the outside one is the later (the router forwards what it received), by
// majority for each pair of addresses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ephemera/analysis/roles.hpp"

namespace ephemera {

// How the translator chose each outside port.
enum class NatMapping : std::uint8_t {
    port_preserving,  // the inside port, for nearly every connection
    sequential,       // rising in start order, whoever the inside host
    port_block,       // each inside host's ports in a block of its own (carrier-grade NATs)
    random,
};
std::string_view mapping_name(NatMapping mapping) noexcept;

inline constexpr Micros pairing_tolerance = 1'000'000;

struct InsideHost {
    Address address;
    std::uint64_t connections = 0;
    std::uint32_t peak_ports = 0;  // outside ports it held open at once
    double port_share = 0;         // of the outside address's distinct ports, those it used
};

struct Translation {
    Address outside;
    std::vector<InsideHost> inside_hosts;  // most connections first
    NatMapping mapping = NatMapping::random;
    std::uint64_t paired = 0;    // outside connections paired with an inside one
    std::uint64_t unpaired = 0;  // the outside address's other TCP connections with a SYN
    // Each pair as indices into the records: (outside connection, inside connection).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
};

// Collects the connections that may be one seen on both sides of a translator, as another pass
// over the records reads them, then pairs them. Most captures hold no translator: only each
// candidate's hash is kept (4 bytes), the hashes are sorted where they lie, and only the few
// connections whose hash another shares are found again and compared.
class TranslationCandidates {
  public:
    explicit TranslationCandidates(const ConnectionRecords& records);
    // Called once for every one of the records, in their order.
    void add(const ConnectionRecord& record);
    // Every translator whose two sides the records hold, in address order of the outside
    // address.
    std::vector<Translation> pair();

    // The sort first places each hash in its bucket of the top bits, whose sizes add() counts,
    // then sorts each bucket.
    static constexpr int bucket_bits = 11;
    static constexpr std::size_t bucket_count = std::size_t{1} << bucket_bits;
    using BucketSizes = std::array<std::uint32_t, bucket_count>;

  private:
    const ConnectionRecords& records_;
    std::vector<std::uint32_t> hashes_;  // of the candidates, in the records' order
    BucketSizes bucket_sizes_{};
};

// The same in one call: every record added, then paired.
std::vector<Translation> pair_translations(const ConnectionRecords& records);

}  // namespace ephemera
