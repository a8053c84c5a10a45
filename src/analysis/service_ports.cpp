#include "ephemera/analysis/service_ports.hpp"

#include <algorithm>
#include <array>

#include "ephemera/track/connection.hpp"

namespace ephemera {
namespace {

// From IANA's registry (service-names-port-numbers), in port order. Only services a client
// reaches from an ephemeral port; peer-to-peer protocols whose both ends use the same port (BGP
// 179, NTP 123 between servers) still match only when the other port is not in the table.
constexpr std::array<RegisteredService, 76> services = {{
    {20, true, false, "ftp-data"},
    {21, true, false, "ftp"},
    {22, true, false, "ssh"},
    {23, true, false, "telnet"},
    {25, true, false, "smtp"},
    {49, true, true, "tacacs"},
    {53, true, true, "domain"},
    {67, false, true, "bootps", 68},
    {69, false, true, "tftp"},
    {80, true, true, "http"},
    {88, true, true, "kerberos"},
    {110, true, false, "pop3"},
    {111, true, true, "sunrpc"},
    {123, false, true, "ntp"},
    {135, true, false, "epmap"},
    {137, false, true, "netbios-ns"},
    {138, false, true, "netbios-dgm"},
    {139, true, false, "netbios-ssn"},
    {143, true, false, "imap"},
    {161, false, true, "snmp"},
    {162, false, true, "snmptrap"},
    {179, true, false, "bgp"},
    {389, true, true, "ldap"},
    {443, true, true, "https"},  // QUIC over UDP
    {445, true, false, "microsoft-ds"},
    {464, true, true, "kpasswd"},
    {500, false, true, "isakmp"},
    {514, false, true, "syslog"},
    {520, false, true, "router"},
    {547, false, true, "dhcpv6-server", 546},
    {587, true, false, "submission"},
    {623, false, true, "asf-rmcp"},
    {636, true, false, "ldaps"},
    {853, true, true, "domain-s"},
    {873, true, false, "rsync"},
    {993, true, false, "imaps"},
    {995, true, false, "pop3s"},
    {1194, true, true, "openvpn"},
    {1433, true, false, "ms-sql-s"},
    {1521, true, false, "ncube-lm"},  // Oracle's listener
    {1701, false, true, "l2f"},       // L2TP
    {1812, false, true, "radius"},
    {1813, false, true, "radius-acct"},
    {1883, true, false, "mqtt"},
    {1900, false, true, "ssdp"},
    {2049, true, true, "nfs"},
    {2152, false, true, "gtp-user"},
    {2181, true, false, "eforward"},  // ZooKeeper
    {2379, true, false, "etcd-client"},
    {2380, true, false, "etcd-server"},
    {3260, true, false, "iscsi-target"},
    {3268, true, false, "msft-gc"},
    {3306, true, false, "mysql"},
    {3389, true, false, "ms-wbt-server"},
    {3478, true, true, "stun"},
    {3479, false, true, "stun-alt"},  // STUN's alternate port (RFC 5780 CHANGE-REQUEST)
    {3544, false, true, "teredo"},
    {4500, false, true, "ipsec-nat-t"},
    {4789, false, true, "vxlan"},
    {5060, true, true, "sip"},
    {5061, true, false, "sips"},
    {5349, true, true, "stuns"},
    {5353, false, true, "mdns"},
    {5355, false, true, "llmnr"},
    {5432, true, false, "postgresql"},
    {5671, true, false, "amqps"},
    {5672, true, false, "amqp"},
    {6081, false, true, "geneve"},
    {6379, true, false, "redis"},
    {6443, true, false, "sun-sr-https"},  // Kubernetes API servers
    {6514, true, false, "syslog-tls"},
    {8883, true, false, "secure-mqtt"},
    {9042, true, false, "cassandra-native"},
    {9092, true, false, "XmlIpcRegSvc"},  // Kafka
    {11211, true, true, "memcache"},
    {27017, true, false, "mongodb"},
}};

constexpr std::uint16_t lowest_client_port = 1024;

bool in_order() {
    return std::is_sorted(services.begin(), services.end(),
                          [](const auto& a, const auto& b) { return a.port < b.port; });
}

}  // namespace

std::span<const RegisteredService> registered_services() noexcept {
    return services;
}

const RegisteredService* find_registered_service(Protocol protocol, std::uint16_t port) noexcept {
    static const bool sorted = in_order();
    if (!sorted) return nullptr;
    const auto found = std::lower_bound(services.begin(), services.end(), port,
                                        [](const RegisteredService& service, std::uint16_t wanted) {
                                            return service.port < wanted;
                                        });
    if (found == services.end() || found->port != port) return nullptr;
    const bool offered = protocol == Protocol::tcp ? found->tcp : found->udp;
    return offered ? &*found : nullptr;
}

int server_by_registered_service(Protocol protocol, std::uint16_t port_a,
                                 std::uint16_t port_b) noexcept {
    const RegisteredService* a = find_registered_service(protocol, port_a);
    const RegisteredService* b = find_registered_service(protocol, port_b);
    // A fixed client port decides alone (DHCP's 68 -> 67).
    if (a != nullptr && a->client_port != 0 && a->client_port == port_b) return 0;
    if (b != nullptr && b->client_port != 0 && b->client_port == port_a) return 1;
    if ((a == nullptr) == (b == nullptr)) return no_side;
    if (a != nullptr) return port_b >= lowest_client_port ? 0 : no_side;
    return port_a >= lowest_client_port ? 1 : no_side;
}

}  // namespace ephemera
