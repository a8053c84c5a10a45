// The same packet captured twice (`tcpdump -i any` sees a bridged packet on the port and on the
// bridge) would double every count. A packet is a duplicate when one with the same fingerprint
// (addresses, ports, sequence and acknowledgment numbers, flags, length, TCP timestamp, IPv4 ID,
// transport checksum) was seen within the last millisecond: a retransmission differs in its
// timestamp or IP ID and comes after a retransmission timeout, far later than that.
#pragma once

#include <array>
#include <cstdint>

#include "ephemera/decode/decode.hpp"

namespace ephemera {

class DuplicateFilter {
  public:
    static constexpr Micros window = 1000;

    // True when `packet` repeats one of the last few within the window; remembers it otherwise.
    // `flow_hash` is hash_flow_key of its flow, as the tracker computes it.
    bool is_duplicate(Micros timestamp, const DecodedPacket& packet,
                      std::uint64_t flow_hash) noexcept;

  private:
    static constexpr std::size_t remembered = 32;
    // The last few packets, oldest overwritten first; a time of 0 marks an unused place.
    std::array<std::uint64_t, remembered> fingerprints_{};
    // The low halves of the fingerprints again, packed: one vectorized pass over them rules out
    // nearly every packet (32-bit compares are SSE2's; 64-bit ones are not).
    std::array<std::uint32_t, remembered> short_fingerprints_{};
    std::array<Micros, remembered> times_{};
    std::size_t next_ = 0;
};

}  // namespace ephemera
