// `ephemera live --metrics-listen`: the Prometheus text exposition format, version 0.0.4.
// Counters end in _total; the per-destination series are capped at the top N by utilization,
// so a host talking to thousands of destinations cannot explode the scrape.
#include <fmt/format.h>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

// Label values escape backslash, double quote and newline.
std::string escape_label(std::string_view value) {
    std::string escaped;
    for (const char c : value) {
        if (c == '\\') {
            escaped += "\\\\";
        } else if (c == '"') {
            escaped += "\\\"";
        } else if (c == '\n') {
            escaped += "\\n";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

class Exposition {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    // labels: "name=value" pairs, values unescaped.
    void sample(std::string_view name,
                std::initializer_list<std::pair<std::string_view, std::string>> labels,
                double value) {
        text_ += name;
        if (labels.size() > 0) {
            text_ += '{';
            bool first = true;
            for (const auto& [label, label_value] : labels) {
                if (!first) text_ += ',';
                first = false;
                fmt::format_to(std::back_inserter(text_), "{}=\"{}\"", label,
                               escape_label(label_value));
            }
            text_ += '}';
        }
        fmt::format_to(std::back_inserter(text_), " {}\n", value);
    }
    std::string take() { return std::move(text_); }

  private:
    std::string text_;
};

}  // namespace

std::string render_prometheus(const LiveSnapshot& snapshot, const LiveHealth& health,
                              std::size_t top) {
    Exposition out;
    const std::string& interface = health.interface;
    out.family("ephemera_packets_total", "counter", "Packets captured (that passed the filter).");
    out.sample("ephemera_packets_total", {{"interface", interface}},
               static_cast<double>(health.packets));
    out.family("ephemera_dropped_packets_total", "counter",
               "Packets lost before ephemera saw them, from pcap_stats: by the kernel (buffer "
               "full) or the interface.");
    out.sample("ephemera_dropped_packets_total", {{"interface", interface}, {"where", "kernel"}},
               static_cast<double>(health.kernel_drops));
    out.sample("ephemera_dropped_packets_total", {{"interface", interface}, {"where", "interface"}},
               static_cast<double>(health.interface_drops));
    out.family("ephemera_connections_started_total", "counter",
               "TCP connections and UDP flows started since monitoring began.");
    out.sample("ephemera_connections_started_total", {{"protocol", "tcp"}},
               static_cast<double>(snapshot.tcp_started_total));
    out.sample("ephemera_connections_started_total", {{"protocol", "udp"}},
               static_cast<double>(snapshot.udp_started_total));
    out.family("ephemera_open_connections", "gauge",
               "TCP connections open or half-closed now, and UDP flows not yet idle.");
    out.sample("ephemera_open_connections", {}, static_cast<double>(snapshot.open_connections));

    out.family("ephemera_failures_total", "counter",
               "Failed TCP attempts by client: refused (RST to the SYN), unanswered, and SYN "
               "retransmissions. Counted when the tracker lets the attempt go.");
    for (const auto& [client, failures] : snapshot.failures) {
        const std::string address = to_string(client);
        out.sample("ephemera_failures_total", {{"client", address}, {"kind", "refused"}},
                   static_cast<double>(failures.refused));
        out.sample("ephemera_failures_total", {{"client", address}, {"kind", "unanswered"}},
                   static_cast<double>(failures.unanswered));
        out.sample("ephemera_failures_total", {{"client", address}, {"kind", "syn_retransmission"}},
                   static_cast<double>(failures.syn_retransmissions));
    }

    out.family("ephemera_destinations", "gauge",
               "Client-destination pairs in the window (series below are capped at the top N).");
    out.sample("ephemera_destinations", {}, static_cast<double>(snapshot.destinations.size()));
    struct Family {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const DestinationNow&);
    };
    const Family families[] = {
        {"ephemera_destination_occupied_ports", "gauge",
         "Client ports held towards the destination now: open or in the client's TIME_WAIT.",
         [](const DestinationNow& d) { return static_cast<double>(d.occupied); }},
        {"ephemera_destination_range_ports", "gauge", "Size of the client's ephemeral range.",
         [](const DestinationNow& d) { return static_cast<double>(d.range_size); }},
        {"ephemera_destination_utilization", "gauge", "Occupied ports over the range, 0 to 1.",
         [](const DestinationNow& d) { return d.utilization; }},
        {"ephemera_destination_new_connections_total", "counter",
         "Connections the client started to the destination since monitoring began.",
         [](const DestinationNow& d) { return static_cast<double>(d.connections_total); }},
    };
    for (const Family& family : families) {
        out.family(family.name, family.type, family.help);
        for (std::size_t i = 0; i < snapshot.destinations.size() && i < top; ++i) {
            const DestinationNow& d = snapshot.destinations[i];
            out.sample(family.name,
                       {{"client", to_string(d.client)},
                        {"server", to_string(d.server.address)},
                        {"port", std::to_string(d.server.port)},
                        {"protocol", to_string(d.protocol)}},
                       family.value(d));
        }
    }
    out.family("ephemera_last_update_timestamp_seconds", "gauge",
               "When these numbers were computed.");
    out.sample("ephemera_last_update_timestamp_seconds", {},
               static_cast<double>(snapshot.time) / 1e6);
    return out.take();
}

}  // namespace ephemera
