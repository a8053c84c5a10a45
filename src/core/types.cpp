#include "ephemera/core/types.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace ephemera {

std::string to_string(const Address& address) {
    char text[INET6_ADDRSTRLEN] = {};
    switch (address.family) {
        case Family::ipv4:
            inet_ntop(AF_INET, address.bytes.data(), text, sizeof text);
            return text;
        case Family::ipv6:
            inet_ntop(AF_INET6, address.bytes.data(), text, sizeof text);
            return text;
        case Family::none:
            break;
    }
    return "?";
}

bool parse_address(const std::string& text, Address& out) {
    Address parsed;
    if (inet_pton(AF_INET, text.c_str(), parsed.bytes.data()) == 1) {
        parsed.family = Family::ipv4;
    } else if (inet_pton(AF_INET6, text.c_str(), parsed.bytes.data()) == 1) {
        parsed.family = Family::ipv6;
    } else {
        return false;
    }
    out = parsed;
    return true;
}

const char* to_string(Protocol protocol) {
    return protocol == Protocol::tcp ? "tcp" : "udp";
}

}  // namespace ephemera
