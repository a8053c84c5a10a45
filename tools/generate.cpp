// ephemera-gen: synthetic captures whose contents are known by construction, written through
// libpcap (pcap_open_dead, pcap_dump). For floods, scans and odd-but-valid captures; real traffic
// comes from scripts/capture-samples.
//
//   ephemera-gen connections OUT.pcap [--clients N] [--per-client N] [--truth FILE] [variants]
//   ephemera-gen flood OUT.pcap [--syns N]
//   ephemera-gen scan OUT.pcap [--ports N] [--truth FILE]
//   ephemera-gen mix OUT.pcap [--clients N] [--connections N]     (benchmarks: scripts/bench)
//
// Variants of `connections`: --mapped (IPv6 headers with IPv4-mapped addresses), --jumbo (9000
// byte frames), --duplicate (every frame twice), --clock-step S (the clock steps back S seconds
// halfway), --snaplen N, --nanosecond, --byte-swapped (the other byte order's pcap).
// `connections` and `mix` take --encapsulate vxlan|geneve|gre|mpls: every frame inside that
// tunnel between 198.18.255.1 and 198.18.255.2 (VNI, key or label 42), as a cloud's traffic mirror
// or a carrier's core delivers it.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

namespace {

constexpr std::int64_t second = 1'000'000;
constexpr std::int64_t start_time = 1'767'225'600 * second;  // 2026-01-01 00:00:00 UTC

struct Host {
    std::uint8_t address[16] = {};
    bool ipv6 = false;
    std::string text;
};

Host ipv4_host(std::uint32_t address) {
    Host host;
    for (int i = 0; i < 4; ++i)
        host.address[i] = static_cast<std::uint8_t>(address >> (24 - 8 * i));
    host.text = fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 255,
                            (address >> 8) & 255, address & 255);
    return host;
}

// ::ffff:a.b.c.d, as an IPv6 header would carry it.
Host mapped_host(std::uint32_t address) {
    Host v4 = ipv4_host(address);
    Host host;
    host.ipv6 = true;
    host.address[10] = host.address[11] = 0xff;
    std::memcpy(host.address + 12, v4.address, 4);
    host.text = "::ffff:" + v4.text;
    return host;
}

struct Frame {
    std::int64_t time;
    std::vector<std::uint8_t> bytes;
};

void put16(std::vector<std::uint8_t>& out, std::size_t at, std::uint16_t value) {
    out[at] = static_cast<std::uint8_t>(value >> 8);
    out[at + 1] = static_cast<std::uint8_t>(value);
}
void put32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t value) {
    put16(out, at, static_cast<std::uint16_t>(value >> 16));
    put16(out, at + 2, static_cast<std::uint16_t>(value));
}

// Ethernet + IPv4/IPv6 + TCP (flags) or UDP, with `payload` zero bytes. Checksums are left zero:
// the analyzer does not read them.
Frame packet(std::int64_t time, const Host& from, std::uint16_t from_port, const Host& to,
             std::uint16_t to_port, bool tcp, std::uint8_t flags, std::uint32_t sequence,
             std::size_t payload) {
    const std::size_t transport = tcp ? 20 : 8;
    const std::size_t ip = from.ipv6 ? 40 : 20;
    std::vector<std::uint8_t> b(14 + ip + transport + payload, 0);
    b[0] = 0x02, b[6] = 0x02, b[11] = 1;  // locally administered MACs
    put16(b, 12, from.ipv6 ? 0x86dd : 0x0800);
    const std::size_t l3 = 14;
    if (from.ipv6) {
        b[l3] = 0x60;
        put16(b, l3 + 4, static_cast<std::uint16_t>(transport + payload));
        b[l3 + 6] = tcp ? 6 : 17;
        b[l3 + 7] = 64;
        std::memcpy(&b[l3 + 8], from.address, 16);
        std::memcpy(&b[l3 + 24], to.address, 16);
    } else {
        b[l3] = 0x45;
        put16(b, l3 + 2, static_cast<std::uint16_t>(ip + transport + payload));
        b[l3 + 8] = 64;
        b[l3 + 9] = tcp ? 6 : 17;
        std::memcpy(&b[l3 + 12], from.address, 4);
        std::memcpy(&b[l3 + 16], to.address, 4);
    }
    const std::size_t l4 = l3 + ip;
    put16(b, l4, from_port);
    put16(b, l4 + 2, to_port);
    if (tcp) {
        put32(b, l4 + 4, sequence);
        b[l4 + 12] = 0x50;
        b[l4 + 13] = flags;
        put16(b, l4 + 14, 64240);
    } else {
        put16(b, l4 + 4, static_cast<std::uint16_t>(8 + payload));
    }
    return {time, std::move(b)};
}

enum : std::uint8_t { fin = 1, syn = 2, rst = 4, psh = 8, ack = 16 };

enum class Encapsulation { none, vxlan, geneve, gre, mpls };

// The frame inside the tunnel: VXLAN and Geneve (UDP 4789, 6081) carry the whole Ethernet frame
// with a source port from a hash of the inner flow, as Linux's endpoints do; GRE (with key 42)
// carries it by transparent bridging; MPLS (label 42) carries the IP packet after the frame's
// Ethernet header is replaced.
Frame encapsulate(const Frame& inner, Encapsulation kind) {
    if (kind == Encapsulation::none) return inner;
    const std::size_t ethernet = 14;
    if (kind == Encapsulation::mpls) {
        std::vector<std::uint8_t> b(ethernet + 4);
        std::copy_n(inner.bytes.begin(), 12, b.begin());
        put16(b, 12, 0x8847);
        put32(b, ethernet, (42u << 12) | 0x100 | 64);  // label 42, bottom of stack, TTL 64
        b.insert(b.end(), inner.bytes.begin() + ethernet, inner.bytes.end());
        return {inner.time, std::move(b)};
    }
    const bool udp = kind != Encapsulation::gre;
    const std::size_t tunnel_header = udp ? 8 + 8 : 8;  // UDP + VXLAN/Geneve, or GRE with key
    std::vector<std::uint8_t> b(ethernet + 20 + tunnel_header, 0);
    b[0] = 0x02, b[5] = 0xfe, b[6] = 0x02, b[11] = 0xff;
    put16(b, 12, 0x0800);
    const std::size_t l3 = ethernet;
    b[l3] = 0x45;
    put16(b, l3 + 2, static_cast<std::uint16_t>(20 + tunnel_header + inner.bytes.size()));
    b[l3 + 8] = 64;
    b[l3 + 9] = udp ? 17 : 47;
    put32(b, l3 + 12, (198u << 24) | (18u << 16) | (255u << 8) | 1);
    put32(b, l3 + 16, (198u << 24) | (18u << 16) | (255u << 8) | 2);
    const std::size_t l4 = l3 + 20;
    if (udp) {
        std::uint32_t flow_hash = 2166136261u;  // FNV-1a over the inner addresses and ports
        for (std::size_t i = ethernet + 12; i < std::min<std::size_t>(inner.bytes.size(), 38); ++i)
            flow_hash = (flow_hash ^ inner.bytes[i]) * 16777619u;
        put16(b, l4, static_cast<std::uint16_t>(49152 + flow_hash % 16384));
        put16(b, l4 + 2, kind == Encapsulation::vxlan ? 4789 : 6081);
        put16(b, l4 + 4, static_cast<std::uint16_t>(16 + inner.bytes.size()));
        if (kind == Encapsulation::vxlan) {
            b[l4 + 8] = 0x08;  // I: the VNI is valid
        } else {
            put16(b, l4 + 10, 0x6558);  // Geneve: version 0, no options, an Ethernet frame
        }
        put32(b, l4 + 12, 42u << 8);  // VNI 42
    } else {
        put16(b, l4, 0x2000);  // K: a key follows
        put16(b, l4 + 2, 0x6558);
        put32(b, l4 + 4, 42);
    }
    b.insert(b.end(), inner.bytes.begin(), inner.bytes.end());
    return {inner.time, std::move(b)};
}

struct Truth {
    std::FILE* file = nullptr;
    void add(const char* protocol, const Host& client, std::uint16_t client_port,
             const Host& server, std::uint16_t server_port, const char* outcome) {
        if (file == nullptr) return;
        fmt::print(file,
                   "{{\"protocol\": \"{}\", \"client\": \"{}\", \"client_port\": {}, \"server\": "
                   "\"{}\", \"server_port\": {}, \"outcome\": \"{}\"}}\n",
                   protocol, client.text, client_port, server.text, server_port, outcome);
    }
};

// A full TCP connection, client closing first.
void tcp_connection(std::vector<Frame>& out, std::int64_t t, const Host& c, std::uint16_t cp,
                    const Host& s, std::uint16_t sp, std::size_t payload, std::uint32_t isn) {
    const std::int64_t rtt = 200;
    out.push_back(packet(t, c, cp, s, sp, true, syn, isn, 0));
    out.push_back(packet(t + rtt, s, sp, c, cp, true, syn | ack, isn ^ 0x5555, 0));
    out.push_back(packet(t + 2 * rtt, c, cp, s, sp, true, ack, isn + 1, 0));
    out.push_back(packet(t + 3 * rtt, c, cp, s, sp, true, psh | ack, isn + 1, 100));
    out.push_back(packet(t + 4 * rtt, s, sp, c, cp, true, psh | ack, isn ^ 0x5555, payload));
    out.push_back(packet(t + 5 * rtt, c, cp, s, sp, true, fin | ack, isn + 101, 0));
    out.push_back(packet(t + 6 * rtt, s, sp, c, cp, true, fin | ack, isn ^ 0x5555, 0));
    out.push_back(packet(t + 7 * rtt, c, cp, s, sp, true, ack, isn + 102, 0));
}

struct Options {
    std::string out;
    std::string truth;
    int clients = 3;
    int per_client = 10;
    bool mapped = false;
    bool jumbo = false;
    bool duplicate = false;
    double clock_step = 0;
    int snaplen = 262144;
    bool nanosecond = false;
    bool byte_swapped = false;
    int syns = 2'000'000;
    int ports = 1000;
    int connections = 360'000;
    int mix_clients = 200;
    Encapsulation encapsulation = Encapsulation::none;
};

// Linux-like clients: per destination, even ports rising by 2-16 from a random offset.
std::vector<Frame> connections_scenario(const Options& o, Truth& truth) {
    std::mt19937 random(1);
    std::vector<Frame> frames;
    const std::uint32_t client_base = (198u << 24) | (18u << 16) | 1;  // 198.18.0.1
    const std::uint32_t server_base = (198u << 24) | (19u << 16) | 1;  // 198.19.0.1
    const std::size_t payload = o.jumbo ? 8900 : 500;
    std::int64_t t = start_time;
    for (int c = 0; c < o.clients; ++c) {
        const Host client = o.mapped ? mapped_host(client_base + c) : ipv4_host(client_base + c);
        const Host server =
            o.mapped ? mapped_host(server_base + c % 2) : ipv4_host(server_base + c % 2);
        std::uint16_t port = static_cast<std::uint16_t>(32768 + 2 * (random() % 14000));
        for (int i = 0; i < o.per_client; ++i) {
            tcp_connection(frames, t, client, port, server, 8080, payload, random());
            truth.add("tcp", client, port, server, 8080, "closed");
            port = static_cast<std::uint16_t>(port + 2 + 2 * (random() % 8));
            t += 10'000;
        }
    }
    return frames;
}

// SYNs from random addresses of 198.18.0.0/15 and random ports to one server, never answered.
std::vector<Frame> flood_scenario(const Options& o) {
    std::mt19937 random(2);
    std::vector<Frame> frames;
    frames.reserve(o.syns);
    const Host target = ipv4_host((198u << 24) | (19u << 16) | (255u << 8) | 1);
    for (int i = 0; i < o.syns; ++i) {
        const Host source = ipv4_host((198u << 24) | (18u << 16) | (random() & 0x1ffff));
        frames.push_back(packet(start_time + i, source,
                                static_cast<std::uint16_t>(1024 + random() % 64000), target, 80,
                                true, syn, random(), 0));
    }
    return frames;
}

// One source sweeping ports 1..N of one host (RST from closed ports, SYN-ACK then the scanner's
// RST from the open ones), while a real client uses the host's web service.
std::vector<Frame> scan_scenario(const Options& o, Truth& truth) {
    std::vector<Frame> frames;
    const Host scanner = ipv4_host((198u << 24) | (18u << 16) | 99);
    const Host target = ipv4_host((198u << 24) | (19u << 16) | 2);
    const Host client = ipv4_host((198u << 24) | (18u << 16) | 1);
    const std::uint16_t open_ports[] = {22, 80, 443};
    std::int64_t t = start_time;
    for (int port = 1; port <= o.ports; ++port) {
        const bool open =
            std::find(std::begin(open_ports), std::end(open_ports), port) != std::end(open_ports);
        const std::uint16_t source_port = 40000;  // scanners reuse one source port
        frames.push_back(packet(t, scanner, source_port, target, static_cast<std::uint16_t>(port),
                                true, syn, 1000 + port, 0));
        if (open) {
            frames.push_back(packet(t + 100, target, static_cast<std::uint16_t>(port), scanner,
                                    source_port, true, syn | ack, 7, 0));
            frames.push_back(packet(t + 200, scanner, source_port, target,
                                    static_cast<std::uint16_t>(port), true, rst, 1001 + port, 0));
        } else {
            frames.push_back(packet(t + 100, target, static_cast<std::uint16_t>(port), scanner,
                                    source_port, true, rst | ack, 0, 0));
        }
        t += 1000;
    }
    std::uint16_t port = 45000;
    for (int i = 0; i < 5; ++i, port += 2) {
        tcp_connection(frames, start_time + i * 200'000, client, port, target, 80, 1000, 77 + i);
        truth.add("tcp", client, port, target, 80, "closed");
    }
    return frames;
}

// A busy network for benchmarks: clients with Linux-like allocation (even ports rising per
// destination) open TCP connections to 20 services, overlapping in time; one in twenty ends with a
// RST instead of FINs; one UDP request/response pair for every four TCP connections.
std::vector<Frame> mix_scenario(const Options& o) {
    std::mt19937 random(3);
    std::vector<Frame> frames;
    frames.reserve(static_cast<std::size_t>(o.connections) * 9);
    std::vector<Host> clients;
    for (int c = 0; c < o.mix_clients; ++c) {
        clients.push_back(
            ipv4_host((198u << 24) | (18u << 16) | static_cast<std::uint32_t>(c + 1)));
    }
    std::vector<Host> servers;
    for (int s = 0; s < 20; ++s)
        servers.push_back(
            ipv4_host((198u << 24) | (19u << 16) | static_cast<std::uint32_t>(s + 1)));
    // Next port per (client, service): per-destination rising sequences.
    std::vector<std::uint16_t> next_port(static_cast<std::size_t>(o.mix_clients) * servers.size());
    for (auto& port : next_port) port = static_cast<std::uint16_t>(32768 + 2 * (random() % 14000));
    const Host resolver = ipv4_host((198u << 24) | (19u << 16) | 53);
    for (int i = 0; i < o.connections; ++i) {
        const std::int64_t t = start_time + i * 50;  // 20,000 new connections per second
        const std::size_t c = random() % clients.size();
        const std::size_t s = random() % servers.size();
        std::uint16_t& port = next_port[c * servers.size() + s];
        port = static_cast<std::uint16_t>(port + 2 + 2 * (random() % 8));
        if (port < 32768 || port > 60999) port = 32768;
        const auto service = static_cast<std::uint16_t>(8000 + s);
        if (i % 20 == 19) {
            frames.push_back(
                packet(t, clients[c], port, servers[s], service, true, syn, random(), 0));
            frames.push_back(
                packet(t + 150, servers[s], service, clients[c], port, true, syn | ack, 1, 0));
            frames.push_back(
                packet(t + 300, clients[c], port, servers[s], service, true, rst, 2, 0));
        } else {
            tcp_connection(frames, t, clients[c], port, servers[s], service, 400, random());
        }
        if (i % 4 == 0) {
            const auto udp_port = static_cast<std::uint16_t>(32768 + random() % 28000);
            frames.push_back(packet(t + 10, clients[c], udp_port, resolver, 53, false, 0, 0, 40));
            frames.push_back(packet(t + 400, resolver, 53, clients[c], udp_port, false, 0, 0, 120));
        }
    }
    return frames;
}

void put_le_or_be(std::FILE* file, std::uint32_t value, bool big_endian, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        const int shift = big_endian ? 8 * (bytes - 1 - i) : 8 * i;
        std::fputc(static_cast<int>((value >> shift) & 0xff), file);
    }
}

// libpcap writes the host's byte order; a capture from a machine of the other order is written
// here by hand (the classic pcap format is five fields of header and four per record).
void write_byte_swapped(const std::vector<Frame>& frames, const Options& o) {
    std::FILE* file = std::fopen(o.out.c_str(), "wb");
    if (file == nullptr) throw std::runtime_error("cannot write " + o.out);
    const bool big = true;  // this tool runs on little-endian machines
    put_le_or_be(file, 0xa1b2c3d4, big, 4);
    put_le_or_be(file, 2, big, 2);
    put_le_or_be(file, 4, big, 2);
    put_le_or_be(file, 0, big, 4);
    put_le_or_be(file, 0, big, 4);
    put_le_or_be(file, static_cast<std::uint32_t>(o.snaplen), big, 4);
    put_le_or_be(file, DLT_EN10MB, big, 4);
    for (const Frame& frame : frames) {
        const auto captured =
            static_cast<std::uint32_t>(std::min<std::size_t>(frame.bytes.size(), o.snaplen));
        put_le_or_be(file, static_cast<std::uint32_t>(frame.time / second), big, 4);
        put_le_or_be(file, static_cast<std::uint32_t>(frame.time % second), big, 4);
        put_le_or_be(file, captured, big, 4);
        put_le_or_be(file, static_cast<std::uint32_t>(frame.bytes.size()), big, 4);
        std::fwrite(frame.bytes.data(), 1, captured, file);
    }
    std::fclose(file);
}

void write_capture(std::vector<Frame> frames, const Options& o) {
    std::stable_sort(frames.begin(), frames.end(),
                     [](const Frame& a, const Frame& b) { return a.time < b.time; });
    if (o.clock_step > 0) {  // the second half recorded after the clock stepped back
        for (std::size_t i = frames.size() / 2; i < frames.size(); ++i) {
            frames[i].time -= static_cast<std::int64_t>(o.clock_step * second);
        }
    }
    if (o.duplicate) {
        std::vector<Frame> twice;
        for (const Frame& frame : frames) {
            twice.push_back(frame);
            twice.push_back(frame);
        }
        frames = std::move(twice);
    }
    if (o.encapsulation != Encapsulation::none) {
        for (Frame& frame : frames) frame = encapsulate(frame, o.encapsulation);
    }
    if (o.byte_swapped) return write_byte_swapped(frames, o);
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(
        DLT_EN10MB, o.snaplen,
        o.nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, o.out.c_str());
    if (dumper == nullptr) throw std::runtime_error(pcap_geterr(dead));
    const std::int64_t unit = o.nanosecond ? 1000 : 1;
    for (const Frame& frame : frames) {
        pcap_pkthdr header{};
        header.ts.tv_sec = frame.time / second;
        header.ts.tv_usec = static_cast<suseconds_t>((frame.time % second) * unit);
        header.len = static_cast<bpf_u_int32>(frame.bytes.size());
        header.caplen = std::min<bpf_u_int32>(header.len, static_cast<bpf_u_int32>(o.snaplen));
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.bytes.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ephemera-gen: synthetic captures known by construction"};
    app.require_subcommand(1);
    Options o;
    auto common = [&](CLI::App* command) {
        command->add_option("out", o.out, "Capture file to write")->required();
        command->add_option("--truth", o.truth, "Also write one JSON line per connection");
    };
    const std::map<std::string, Encapsulation> encapsulations = {{"vxlan", Encapsulation::vxlan},
                                                                 {"geneve", Encapsulation::geneve},
                                                                 {"gre", Encapsulation::gre},
                                                                 {"mpls", Encapsulation::mpls}};
    auto tunneled = [&](CLI::App* command) {
        command->add_option("--encapsulate", o.encapsulation, "every frame inside this tunnel")
            ->transform(CLI::CheckedTransformer(encapsulations));
    };
    CLI::App* connections =
        app.add_subcommand("connections", "Linux-like clients, full TCP connections");
    common(connections);
    tunneled(connections);
    connections->add_option("--clients", o.clients);
    connections->add_option("--per-client", o.per_client);
    connections->add_flag("--mapped", o.mapped, "IPv6 headers with IPv4-mapped addresses");
    connections->add_flag("--jumbo", o.jumbo, "9000-byte frames");
    connections->add_flag("--duplicate", o.duplicate, "every frame twice");
    connections->add_option("--clock-step", o.clock_step, "the clock steps back S seconds halfway");
    connections->add_option("--snaplen", o.snaplen);
    connections->add_flag("--nanosecond", o.nanosecond, "nanosecond timestamps");
    connections->add_flag("--byte-swapped", o.byte_swapped, "big-endian pcap");
    CLI::App* flood = app.add_subcommand("flood", "a SYN flood from random sources");
    common(flood);
    flood->add_option("--syns", o.syns);
    CLI::App* scan = app.add_subcommand("scan", "one source sweeping a host's ports");
    common(scan);
    scan->add_option("--ports", o.ports);
    CLI::App* mix =
        app.add_subcommand("mix", "a busy network of Linux-like clients, for benchmarks");
    common(mix);
    tunneled(mix);
    mix->add_option("--clients", o.mix_clients, "client hosts")->capture_default_str();
    mix->add_option("--connections", o.connections, "TCP connections")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        Truth truth;
        if (!o.truth.empty()) truth.file = std::fopen(o.truth.c_str(), "w");
        std::vector<Frame> frames;
        if (*connections) frames = connections_scenario(o, truth);
        if (*flood) frames = flood_scenario(o);
        if (*scan) frames = scan_scenario(o, truth);
        if (*mix) frames = mix_scenario(o);
        write_capture(std::move(frames), o);
        if (truth.file != nullptr) std::fclose(truth.file);
    } catch (const std::exception& e) {
        fmt::print(stderr, "ephemera-gen: {}\n", e.what());
        return 2;
    }
    return 0;
}
