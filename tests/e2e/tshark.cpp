#include "tshark.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <sstream>
#include <tuple>

#include "run.hpp"

namespace ephemera::test {
namespace {

const std::array<const char*, 9> fields = {"frame.protocols", "ip.src",      "ip.dst",
                                           "ipv6.src",        "ipv6.dst",    "tcp.srcport",
                                           "tcp.dstport",     "udp.srcport", "udp.dstport"};

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream stream(text);
    while (std::getline(stream, part, separator)) parts.push_back(part);
    if (!text.empty() && text.back() == separator) parts.emplace_back();
    return parts;
}

// The value of `field` for the layer at `position` of `layers`, which is that layer's
// occurrence among the layers of the same name (tshark lists every occurrence, comma-separated).
std::string value_at(const std::vector<std::string>& row, std::size_t field,
                     const std::vector<std::string>& layers, std::size_t position) {
    const auto occurrence = static_cast<std::size_t>(
        std::count(layers.begin(), layers.begin() + static_cast<long>(position) + 1,
                   layers[position]) -
        1);
    const std::vector<std::string> values = split(row[field], ',');
    return occurrence < values.size() ? values[occurrence] : std::string();
}

bool carries_a_packet(const std::string& layer) {
    return layer == "eth" || layer == "ip" || layer == "ipv6" || layer == "mpls" ||
           layer == "ppp" || layer == "arp" || layer == "nsh";
}

}  // namespace

Conversations tshark_innermost_conversations(const std::string& path,
                                             const std::vector<std::string>& decode_as) {
    std::vector<std::string> command = {"tshark", "-n",           "-r", path,
                                        "-T",     "fields",       "-E", "occurrence=a",
                                        "-E",     "aggregator=,", "-E", "separator=/t"};
    for (const std::string& rule : decode_as) {
        command.push_back("-d");
        command.push_back(rule);
    }
    for (const char* field : fields) {
        command.push_back("-e");
        command.push_back(field);
    }
    const RunResult tshark = run(command, "/dev/null", 300);
    using Side = std::pair<std::string, std::string>;
    std::set<std::tuple<std::string, Side, Side>> seen;
    std::istringstream lines(tshark.out);
    for (std::string line; std::getline(lines, line);) {
        const std::vector<std::string> row = split(line, '\t');
        if (row.size() < fields.size()) continue;
        std::vector<std::string> layers = split(row[0], ':');
        const auto icmp = std::find_if(layers.begin(), layers.end(), [](const std::string& layer) {
            return layer == "icmp" || layer == "icmpv6";
        });
        layers.erase(icmp, layers.end());
        const auto last_ip = std::find_if(layers.rbegin(), layers.rend(), [](const auto& layer) {
            return layer == "ip" || layer == "ipv6";
        });
        if (last_ip == layers.rend()) continue;
        const std::size_t ip_at = static_cast<std::size_t>(layers.rend() - last_ip) - 1;
        std::size_t transport_at = ip_at + 1;
        while (transport_at < layers.size() && layers[transport_at] != "tcp" &&
               layers[transport_at] != "udp") {
            ++transport_at;
        }
        if (transport_at >= layers.size()) continue;
        if (std::any_of(layers.begin() + static_cast<long>(transport_at) + 1, layers.end(),
                        carries_a_packet)) {
            continue;
        }
        const std::string& family = layers[ip_at];
        const std::string& transport = layers[transport_at];
        const std::size_t address_field = family == "ip" ? 1 : 3;
        const std::size_t port_field = transport == "tcp" ? 5 : 7;
        const Side source = {value_at(row, address_field, layers, ip_at),
                             value_at(row, port_field, layers, transport_at)};
        const Side destination = {value_at(row, address_field + 1, layers, ip_at),
                                  value_at(row, port_field + 1, layers, transport_at)};
        if (source.first.empty() || source.second.empty() || destination.second.empty()) continue;
        seen.insert({transport, std::min(source, destination), std::max(source, destination)});
    }
    Conversations conversations;
    for (const auto& [transport, first, second] : seen) {
        (transport == "tcp" ? conversations.tcp : conversations.udp) += 1;
    }
    return conversations;
}

}  // namespace ephemera::test
