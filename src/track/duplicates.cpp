#include "ephemera/track/duplicates.hpp"

#include <cstring>

namespace ephemera {
namespace {

std::uint64_t fingerprint_of(const DecodedPacket& p, std::uint64_t flow_hash) noexcept {
    std::uint64_t hash = flow_hash;
    // Direction matters: the same tuple both ways is two packets.
    hash ^= p.source < p.destination ? 0x9e3779b97f4a7c15ULL : 0;
    const std::uint64_t fields[] = {
        (std::uint64_t{p.sequence} << 32) | p.acknowledgment,
        (std::uint64_t{p.payload_length} << 32) | (std::uint64_t{p.ip_id} << 16) |
            p.transport_checksum,
        (std::uint64_t{p.timestamp_value} << 8) | p.tcp_flags,
    };
    for (const std::uint64_t field : fields) {
        hash ^= field + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    }
    return hash;
}

}  // namespace

bool DuplicateFilter::is_duplicate(Micros timestamp, const DecodedPacket& packet,
                                   std::uint64_t flow_hash) noexcept {
    const std::uint64_t fingerprint = fingerprint_of(packet, flow_hash);
    for (const Seen& seen : recent_) {
        const Micros apart = timestamp >= seen.time ? timestamp - seen.time : seen.time - timestamp;
        if (seen.fingerprint == fingerprint && apart <= window && seen.time != 0) return true;
    }
    recent_[next_] = {fingerprint, timestamp};
    next_ = (next_ + 1) % recent_.size();
    return false;
}

}  // namespace ephemera
