#include "ephemera/track/duplicates.hpp"

#include <bit>

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
    // The fingerprint's high bits barely depend on its last fields: multiplying brings every bit
    // into the high ones that pick the place.
    const std::uint64_t mixed = fingerprint * 0x9e3779b97f4a7c15ULL;
    Place& place = places_[mixed >> (64 - std::countr_zero(places))];
    if (place.fingerprint == fingerprint && place.time != 0) {
        const Micros apart =
            timestamp >= place.time ? timestamp - place.time : place.time - timestamp;
        if (apart <= window) return true;
    }
    place = {fingerprint, timestamp};
    return false;
}

}  // namespace ephemera
