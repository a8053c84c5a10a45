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

    // True when the last packet seen with `packet`'s fingerprint was within the window of it;
    // otherwise `packet` is remembered as that last one. `flow_hash` is hash_flow_of(packet),
    // as the tracker uses it. (Where timestamps jump back and forth, as in damaged
    // captures, only the last copy counts: an earlier one at a nearer time does not.)
    bool is_duplicate(Micros timestamp, const DecodedPacket& packet,
                      std::uint64_t flow_hash) noexcept;

  private:
    // Direct-mapped by fingerprint: a packet looks at one place, which holds the last packet
    // whose fingerprint led there. A duplicate is missed only if another packet's fingerprint
    // took the place in the millisecond between the copies (one chance in `places` per packet in
    // between). A window of the last packets would miss every copy further behind, and compare
    // each packet with all of them.
    static constexpr std::size_t places = 4096;
    struct Place {
        std::uint64_t fingerprint = 0;
        Micros time = 0;  // 0: unused
    };
    std::array<Place, places> places_{};
};

}  // namespace ephemera
