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
    const auto short_fingerprint = static_cast<std::uint32_t>(fingerprint);
    // No early exit, so the compiler vectorizes it: almost no packet matches.
    std::uint32_t matches = 0;
    for (std::size_t i = 0; i < remembered; ++i) {
        matches |= static_cast<std::uint32_t>(short_fingerprints_[i] == short_fingerprint);
    }
    if (matches != 0) {
        for (std::size_t i = 0; i < remembered; ++i) {
            if (fingerprints_[i] != fingerprint || times_[i] == 0) continue;
            const Micros apart =
                timestamp >= times_[i] ? timestamp - times_[i] : times_[i] - timestamp;
            if (apart <= window) return true;
        }
    }
    fingerprints_[next_] = fingerprint;
    short_fingerprints_[next_] = short_fingerprint;
    times_[next_] = timestamp;
    next_ = (next_ + 1) % remembered;
    return false;
}

}  // namespace ephemera
