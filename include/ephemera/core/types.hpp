// Value types shared by every stage of the pipeline: addresses, endpoints, timestamps.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>

namespace ephemera {

// Capture time in microseconds since the Unix epoch. Always taken from the capture, never the
// clock.
using Micros = std::int64_t;

enum class Family : std::uint8_t { none = 0, ipv4 = 4, ipv6 = 6 };

// An IPv4 or IPv6 address. IPv4 uses the first four bytes; the family keeps an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) distinct from the IPv4 address it maps.
struct Address {
    std::array<std::uint8_t, 16> bytes{};
    Family family = Family::none;

    auto operator<=>(const Address&) const = default;
};

enum class Protocol : std::uint8_t { tcp = 6, udp = 17 };

struct Endpoint {
    Address address;
    std::uint16_t port = 0;

    auto operator<=>(const Endpoint&) const = default;
};

// RFC 5952 text, as inet_ntop writes it.
std::string to_string(const Address& address);
// Parses what to_string writes; returns false on anything else.
bool parse_address(const std::string& text, Address& out);
const char* to_string(Protocol protocol);

}  // namespace ephemera
