// Value types shared by every stage of the pipeline: addresses, endpoints, timestamps.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>

namespace ephemera {

// Capture time in microseconds since the Unix epoch. Always taken from the capture, never the
// clock.
using Micros = std::int64_t;

enum class Family : std::uint8_t { none = 0, ipv4 = 4, ipv6 = 6 };

// An IPv4 or IPv6 address. IPv4 uses the first four bytes; the family keeps an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) distinct from the IPv4 address it maps. With --split-segments, the
// segment (the VLANs and tunnels a packet came through, numbered by the pipeline) is part of the
// address, so the same address in two segments is two hosts; 0 is no segment. It takes the byte
// an Endpoint would otherwise pad.
struct Address {
    std::array<std::uint8_t, 16> bytes{};
    Family family = Family::none;
    std::uint8_t segment = 0;

    // Byte-wise order, as the defaulted comparison would give, but compared as two big-endian
    // words: addresses are compared in every table lookup, and memcmp is a call each time.
    std::strong_ordering operator<=>(const Address& other) const noexcept {
        if (auto order = word(0) <=> other.word(0); order != 0) return order;
        if (auto order = word(8) <=> other.word(8); order != 0) return order;
        if (auto order = family <=> other.family; order != 0) return order;
        return segment <=> other.segment;
    }
    bool operator==(const Address& other) const noexcept {
        return ((raw(0) ^ other.raw(0)) | (raw(8) ^ other.raw(8))) == 0 && family == other.family &&
               segment == other.segment;
    }

  private:
    std::uint64_t raw(std::size_t at) const noexcept {
        std::uint64_t value;
        std::memcpy(&value, bytes.data() + at, sizeof value);
        return value;
    }
    // Big-endian: the first byte is the most significant, so words order as the bytes do.
    std::uint64_t word(std::size_t at) const noexcept { return __builtin_bswap64(raw(at)); }
};

// For unordered containers keyed by address.
struct AddressHash {
    std::size_t operator()(const Address& address) const noexcept {
        std::uint64_t first;
        std::uint64_t second;
        std::memcpy(&first, address.bytes.data(), sizeof first);
        std::memcpy(&second, address.bytes.data() + 8, sizeof second);
        // Multiply-xorshift: IPv4 addresses differ only in a few bytes of `first`.
        std::uint64_t hash =
            (first ^ (second * 0x9e3779b97f4a7c15ULL)) +
            (static_cast<std::uint64_t>(address.family) | std::uint64_t{address.segment} << 8);
        hash *= 0xff51afd7ed558ccdULL;
        return hash ^ (hash >> 32);
    }
};

enum class Protocol : std::uint8_t { tcp = 6, udp = 17 };

struct Endpoint {
    Address address;
    std::uint16_t port = 0;

    auto operator<=>(const Endpoint&) const = default;
};

static_assert(sizeof(Endpoint) == 20, "an Endpoint is an address, its segment and a port");

// RFC 5952 text, as inet_ntop writes it.
std::string to_string(const Address& address);
// Parses what to_string writes; returns false on anything else.
bool parse_address(const std::string& text, Address& out);
const char* to_string(Protocol protocol);

struct EndpointHash {
    std::size_t operator()(const Endpoint& endpoint) const noexcept {
        return AddressHash{}(endpoint.address) ^ (endpoint.port * 0x9e3779b97f4a7c15ULL);
    }
};

}  // namespace ephemera
