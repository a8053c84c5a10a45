// The text report: what a person reads first comes first (warnings and failures), then the
// busiest clients and services.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

using State = ConnectionState;

// The clients one render reads, each summary computed once: an on-demand ClientList computes a
// client's summary again at every lookup, and a render reads a shown client for its address
// width, both tables and each of its findings.
class ClientRows {
  public:
    explicit ClientRows(const ClientList& clients) : clients_(clients) {}
    const ClientSummary& operator[](std::size_t rank) {
        if (!clients_.on_demand()) return clients_.held()[rank];
        auto found = computed_.find(rank);
        if (found == computed_.end()) found = computed_.emplace(rank, clients_[rank]).first;
        return found->second;
    }

  private:
    const ClientList& clients_;
    std::unordered_map<std::size_t, ClientSummary> computed_;
};

}  // namespace

// ANSI colours, only when asked for (--color, a terminal without NO_COLOR).
struct Palette {
    bool on = false;
    std::string paint(std::string_view text, const char* code) const {
        if (!on) return std::string(text);
        return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
    }
    std::string verdict(Verdict verdict, std::string_view text) const {
        switch (verdict) {
            case Verdict::exhausted:
            case Verdict::critical:
                return paint(text, "1;31");
            case Verdict::warning:
                return paint(text, "33");
            case Verdict::ok:
                return paint(text, "32");
            case Verdict::unknown:
                return paint(text, "2");
        }
        return std::string(text);
    }
};

std::string format_utc(Micros time) {
    const std::time_t seconds = static_cast<std::time_t>(time / 1'000'000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       time % 1'000'000);
}

namespace {

// A client's address, with its segment after a '%' (as an IPv6 zone is written) when
// --split-segments keeps segments apart.
std::string host_text(const ClientSummary& client) {
    if (client.segment.empty()) return to_string(client.address);
    return to_string(client.address) + '%' + client.segment;
}

std::string service_text(const ServerSummary& server) {
    if (server.segment.empty()) return format_endpoint(server.endpoint);
    return format_endpoint(server.endpoint) + '%' + server.segment;
}

std::string plural(std::uint64_t count, const char* singular, const char* many) {
    return fmt::format("{} {}", count, count == 1 ? singular : many);
}

std::uint64_t count(const std::array<std::uint64_t, 7>& states, State state) {
    return states[static_cast<std::size_t>(state)];
}

void append_header(std::string& out, const CaptureSummary& capture) {
    fmt::format_to(std::back_inserter(out), "Capture: {}, {}",
                   capture.live ? plural(capture.files.size(), "interface", "interfaces")
                                : plural(capture.files.size(), "file", "files"),
                   plural(capture.packets, "packet", "packets"));
    if (capture.packets > 0) {
        fmt::format_to(std::back_inserter(out), ", {} to {} UTC ({:.3f} s)",
                       format_utc(capture.first), format_utc(capture.last),
                       static_cast<double>(capture.last - capture.first) / 1e6);
    }
    out += "\n";
    for (const CaptureSummary::File& file : capture.files) {
        fmt::format_to(std::back_inserter(out), "  {}  {}  {}\n",
                       file.path == "-" ? "<stdin>" : file.path, file.link_type,
                       plural(file.packets, "packet", "packets"));
    }
    if (capture.live) {
        fmt::format_to(std::back_inserter(out),
                       "  dropped before ephemera saw them: {} by the kernel, {} by the "
                       "interface\n",
                       capture.kernel_drops, capture.interface_drops);
    }
    // Packets with nothing to analyze (ARP, ICMP, ...) are a statistic of the capture, not a
    // finding about it.
    std::uint64_t skipped = 0;
    std::string reasons;
    for (std::size_t reason = 1; reason < decode_status_count; ++reason) {
        const std::uint64_t n = capture.skipped[reason];
        if (n == 0) continue;
        skipped += n;
        fmt::format_to(std::back_inserter(reasons), "{}{} {}", reasons.empty() ? "" : ", ",
                       reason_name(static_cast<DecodeStatus>(reason)), n);
    }
    if (skipped > 0) {
        fmt::format_to(std::back_inserter(out), "  {} without TCP/UDP ports skipped: {}\n",
                       plural(skipped, "packet", "packets"), reasons);
    }
}

std::string destination_name(const DestinationOccupancy& destination) {
    return fmt::format("{}/{}", format_endpoint(destination.server),
                       to_string(destination.protocol));
}

std::string consequence(Verdict verdict, std::uint32_t free_ports, Protocol protocol,
                        bool gateway) {
    // Linux's connect() fails with EADDRNOTAVAIL for TCP, with EAGAIN for UDP's autobind; a
    // translator drops the new connection's packets and counts it (AWS ErrorPortAllocation,
    // Azure's failed SNAT connections, Cloud NAT's OUT_OF_RESOURCES drops).
    const char* error = protocol == Protocol::tcp ? "EADDRNOTAVAIL" : "EAGAIN";
    const std::string failure = gateway ? std::string("the translator drops")
                                        : fmt::format("connect() fails with {}", error);
    switch (verdict) {
        case Verdict::exhausted:
            return gateway ? "exhausted: the translator drops the next new one"
                           : fmt::format("exhausted: the next connect() fails with {}", error);
        case Verdict::critical:
            return fmt::format("critical: {} more and {}",
                               plural(free_ports, protocol == Protocol::tcp ? "connection" : "flow",
                                      protocol == Protocol::tcp ? "connections" : "flows"),
                               failure);
        case Verdict::warning:
            return "warning: over half the range is held";
        case Verdict::ok:
        case Verdict::unknown:
            break;
    }
    return std::string(verdict_name(verdict));
}

std::string occupancy_words(const ClientSummary& client, const DestinationOccupancy& destination) {
    const ClientPorts& use = client.port_use;
    const std::uint32_t size = use.range.limit();
    return fmt::format(
        "{} -> {}: {} of {} ports occupied at {} UTC ({:.0f}%), {}.", host_text(client),
        destination_name(destination), destination.peak_occupied, size,
        format_utc(destination.peak_at), destination.utilization * 100,
        consequence(destination.verdict,
                    size > destination.peak_occupied ? size - destination.peak_occupied : 0,
                    destination.protocol, use.range.evidence == RangeEvidence::gateway));
}

std::string rate_words(const ClientSummary& client, const DestinationOccupancy& destination) {
    const ClientPorts& use = client.port_use;
    return fmt::format(
        "{} -> {}: {:.0f} new connections in one second, more than the {:.3g} per second its "
        "{}-port range sustains with {:.0f} s of TIME_WAIT.",
        host_text(client), destination_name(destination), destination.peak_new_per_s,
        destination.sustainable_new_per_s, use.range.limit(), use.exhaustion.time_wait_s);
}

std::string failure_words(const std::string& address, const FailureStats& failures) {
    std::vector<std::string> parts;
    if (failures.refused > 0) {
        parts.push_back(
            fmt::format("{} refused (answered by RST)",
                        plural(failures.refused, "connection attempt", "connection attempts")));
    }
    if (failures.unanswered > 0) {
        parts.push_back(
            fmt::format("{} unanswered",
                        plural(failures.unanswered, "connection attempt", "connection attempts")));
    }
    std::string sentence = fmt::format("{}: {}", address, fmt::join(parts, ", "));
    if (failures.syn_retransmissions > 0) {
        sentence += fmt::format(" ({})", plural(failures.syn_retransmissions, "SYN retransmission",
                                                "SYN retransmissions"));
    }
    return sentence + ".";
}

std::string shared_words(const std::string& address, const ClientPorts& use) {
    const std::string count =
        use.shared.hosts_estimate >= 2
            ? fmt::format("{}{} hosts share this address",
                          use.shared.hosts_at_least ? "at least " : "", use.shared.hosts_estimate)
            : "several hosts likely share this address";
    std::string sentence = fmt::format("{}: {} (a NAT or a load balancer's SNAT): {}", address,
                                       count, shared_evidence_words(use));
    if (use.shared.syn_fingerprints >= 2 &&
        use.shared.evidence != SharedEvidence::syn_fingerprints) {
        sentence += "; " + fingerprint_words(use.shared);
    }
    if (const std::string unknown = shared_unknown_words(use.shared); !unknown.empty()) {
        sentence += "; how many cannot be told from this side: " + unknown;
    }
    return sentence + ".";
}

// A finding about report.clients[finding.subject], in words.
std::string client_finding_words(const Report& report, const Finding& finding, ClientRows& rows) {
    const ClientSummary& client = rows[finding.subject];
    const ClientPorts& use = client.port_use;
    const std::string address = host_text(client);
    switch (finding.kind) {
        case FindingKind::destination_occupancy:
            return occupancy_words(client, use.exhaustion.destinations[finding.detail]);
        case FindingKind::rate_above_sustainable:
            return rate_words(client, use.exhaustion.destinations[finding.detail]);
        case FindingKind::failed_attempts:
            return failure_words(address, use.failures);
        case FindingKind::time_wait_collisions:
            return fmt::format(
                "{}: {} met a server still in TIME_WAIT (SYN, ACK, RST, SYN).", address,
                plural(use.reuse.time_wait_collisions, "new connection", "new connections"));
        case FindingKind::time_wait_reuse:
            return fmt::format(
                "{}: {} reused while TIME_WAIT still held them (within {:.0f} s); the shortest "
                "gap before a port was used again was {:.3f} s.",
                address, plural(use.reuse.time_wait_reuses, "4-tuple was", "4-tuples were"),
                use.exhaustion.time_wait_s, use.reuse.min_interval_s);
        case FindingKind::narrow_range:
            return fmt::format(
                "{}: allocates from only {} ports ({}-{}), far fewer than any OS default: a "
                "narrowed ip_local_port_range?",
                address, use.range.range.size(), use.range.range.low, use.range.range.high);
        case FindingKind::configured_range_mismatch:
            return fmt::format(
                "{}: {} of the {} ports it was seen using ({}-{}) lie outside the configured "
                "range {}-{}: that range is not this host's, and its occupancy against it means "
                "little.",
                address, use.range.outside, use.range.ports_seen, use.range.seen.low,
                use.range.seen.high, use.range.range.low, use.range.range.high);
        case FindingKind::shared_address:
            return shared_words(address, use);
        case FindingKind::range_doubt: {
            const std::uint32_t peak = use.exhaustion.destinations.empty()
                                           ? 0
                                           : use.exhaustion.destinations.front().peak_occupied;
            return range_doubt(address, use.range, peak, report.critical_at);
        }
        default:
            return "";
    }
}

}  // namespace

std::string allocation_words(const AllocationFingerprint& allocation) {
    switch (allocation.unknown_because) {
        case UnknownBecause::known:
            return fmt::format("{} ({:.2f})", pattern_name(allocation.pattern),
                               allocation.confidence);
        case UnknownBecause::no_connections:
            return "unknown: no TCP";
        case UnknownBecause::no_handshakes:
            return "unknown: no SYN seen";
        case UnknownBecause::too_few:
            return fmt::format("unknown: {} SYN{} < {}", allocation.samples,
                               allocation.samples == 1 ? "" : "s", min_fingerprint_samples);
        case UnknownBecause::no_pattern:
            return "unknown: no pattern";
    }
    return "unknown";
}

std::string shared_evidence_words(const ClientPorts& use) {
    const SharedAddress& shared = use.shared;
    switch (shared.evidence) {
        case SharedEvidence::interleaved_sequences:
            return fmt::format(
                "{} rising port sequences at once towards {}/tcp, holding {:.0f}% of its {}: one "
                "allocator per host, behind a translator that keeps their ports",
                shared.hosts_estimate, format_endpoint(shared.destination),
                shared.sequences_share * 100.0,
                plural(shared.destination_connections, "connection", "connections"));
        case SharedEvidence::translator_ports:
            return fmt::format(
                "ports drawn at random from {}-{}, a span no operating system's default range "
                "holds but a translator's (Linux NAT: 1024-65535) does",
                use.range.seen.low, use.range.seen.high);
        case SharedEvidence::syn_fingerprints:
            return fingerprint_words(shared);
        case SharedEvidence::both_sides:
            return fmt::format(
                "its connections were paired with the inside connections they carry, from {} "
                "hosts (both sides of the translator are in the capture)",
                shared.hosts_estimate);
        case SharedEvidence::none:
            break;
    }
    return "";
}

std::string fingerprint_words(const SharedAddress& shared) {
    std::vector<std::uint8_t> ttls;
    for (const std::uint8_t ttl : shared.fingerprint_ttls) {
        if (ttl != 0) ttls.push_back(ttl);
    }
    return fmt::format(
        "its SYNs carry {} fingerprints interleaved in time (TTL{} {}; {} TCP option {}): hosts "
        "of different systems or distances, and hosts alike in both look like one",
        shared.syn_fingerprints, ttls.size() == 1 ? "" : "s", fmt::join(ttls, ", "),
        shared.fingerprint_layouts, shared.fingerprint_layouts == 1 ? "layout" : "layouts");
}

std::string shared_unknown_words(const SharedAddress& shared) {
    if (!shared.likely || shared.hosts_estimate >= 2) return "";
    return "a translator's random ports hide the allocators of the hosts behind it: a capture "
           "inside it, or of both sides, counts them";
}

std::string range_doubt(const std::string& address, const RangeEstimate& range,
                        std::uint32_t peak_occupied, double alarming) {
    if (!range_in_doubt(range, peak_occupied, alarming)) return "";
    if (range.evidence == RangeEvidence::estimated) {
        return fmt::format(
            "{}: no OS default holds the {} ports it used ({}-{}): its range {}-{} is estimated "
            "from them; give --range if you know it.",
            address, range.ports_seen, range.seen.low, range.seen.high, range.range.low,
            range.range.high);
    }
    // An OS default the ports fill little of, each used about once: a narrowed range would look
    // the same, and were their span the whole range, the verdict would be alarming.
    const std::uint32_t span = std::uint32_t{range.seen.high} - range.seen.low + 1;
    std::string others;
    const std::vector<const RangeDefault*> fits = narrowest_first(range.fits);
    for (std::size_t i = 1; i < fits.size(); ++i) {
        others += fmt::format("{}{} ({}-{})", others.empty() ? "" : ", ", fits[i]->basis,
                              fits[i]->range.low, fits[i]->range.high);
    }
    std::string sentence = fmt::format(
        "{}: range {}-{} assumed ({}'s default) from {} connections on {} ports, each used about "
        "once",
        address, range.range.low, range.range.high, range.basis_name(), range.allocations,
        range.ports_seen);
    if (!others.empty())
        sentence += fmt::format("; {} fit{} too", others, range.fits.size() == 2 ? "s" : "");
    sentence += fmt::format(
        "; all lie in {}-{}: if that is its whole range, {} of its {} ports were occupied at once",
        range.seen.low, range.seen.high, peak_occupied, span);
    return sentence + ". Give --range if you know it.";
}

// A tunnel's kind as people write it.
std::string_view tunnel_display_name(TunnelKind kind) {
    switch (kind) {
        case TunnelKind::vxlan:
            return "VXLAN";
        case TunnelKind::vxlan_gpe:
            return "VXLAN-GPE";
        case TunnelKind::geneve:
            return "Geneve";
        case TunnelKind::gtp_u:
            return "GTP-U";
        case TunnelKind::teredo:
            return "Teredo";
        case TunnelKind::mpls_udp:
            return "MPLS over UDP";
        case TunnelKind::gre:
            return "GRE";
        case TunnelKind::ip_in_ip:
            return "IP-in-IP";
        case TunnelKind::mpls:
            return "MPLS";
        case TunnelKind::pppoe:
            return "PPPoE";
        case TunnelKind::pbb:
            return "PBB";
        case TunnelKind::fabricpath:
            return "FabricPath";
        case TunnelKind::nsh:
            return "NSH";
        case TunnelKind::pim_register:
            return "PIM Register";
        case TunnelKind::none:
            break;
    }
    return "none";
}

// What a tunnel's id is called in its own standard.
std::string_view tunnel_id_name(TunnelKind kind) {
    switch (kind) {
        case TunnelKind::gre:
            return "key";
        case TunnelKind::gtp_u:
            return "TEID";
        case TunnelKind::pppoe:
            return "session";
        case TunnelKind::mpls:
        case TunnelKind::mpls_udp:
            return "label";
        case TunnelKind::pbb:
            return "I-SID";
        case TunnelKind::nsh:
            return "service path";
        default:
            return "VNI";
    }
}

std::string tunnel_words(const TunnelTally& tunnel) {
    std::string words(tunnel_display_name(tunnel.kind));
    if (tunnel.has_id) words += fmt::format(" {} {}", tunnel_id_name(tunnel.kind), tunnel.id);
    if (tunnel.outer_source.family != Family::none) {
        words += fmt::format(" between {} and {}", to_string(tunnel.outer_source),
                             to_string(tunnel.outer_destination));
    }
    return words;
}

namespace {

std::string finding_words(const Report& report, const Finding& finding, ClientRows& rows) {
    switch (finding.kind) {
        case FindingKind::input_stopped:
            return report.capture.files[finding.subject].stopped;
        case FindingKind::capture_warning:
            return report.warnings[finding.subject];
        case FindingKind::empty_capture:
            return "the capture holds no packets: nothing to analyze";
        case FindingKind::port_scan: {
            const ScanSummary& scan = report.scans[finding.subject];
            return fmt::format(
                "{} scanned {} on {} ({} answered, {} to {}): a port scan, left out of the "
                "client and service tallies.",
                to_string(scan.source), plural(scan.ports, "port", "ports"),
                plural(scan.hosts, "host", "hosts"), scan.answered, format_utc(scan.first),
                format_utc(scan.last) + " UTC");
        }
        case FindingKind::translator: {
            const Translation& translation = report.translations[finding.subject];
            return fmt::format(
                "{} translates {} ({} mapping): {} of {} of its connections paired with the "
                "inside connection they carry.",
                to_string(translation.outside),
                plural(translation.inside_hosts.size(), "inside host", "inside hosts"),
                mapping_name(translation.mapping), translation.paired,
                translation.paired + translation.unpaired);
        }
        case FindingKind::tunnels: {
            const std::vector<TunnelTally>& tunnels = report.capture.tunnels;
            if (tunnels.size() == 1) {
                return fmt::format(
                    "{} were inside {}: the connections are the inner ones (--decapsulate none "
                    "for the outer).",
                    plural(tunnels[0].packets, "packet", "packets"), tunnel_words(tunnels[0]));
            }
            std::uint64_t packets = 0;
            for (const TunnelTally& tunnel : tunnels) packets += tunnel.packets;
            return fmt::format(
                "{} were inside {} tunnels (below): the connections are the inner ones "
                "(--decapsulate none for the outer).",
                plural(packets, "packet", "packets"), tunnels.size());
        }
        default:
            return client_finding_words(report, finding, rows);
    }
}

std::vector<std::string> finding_sentences(const Report& report, ClientRows& rows) {
    std::vector<std::string> sentences;
    for (const Finding& finding : rank_findings(report)) {
        sentences.push_back(finding_words(report, finding, rows));
    }
    return sentences;
}

}  // namespace

std::string finding_words(const Report& report, const Finding& finding) {
    ClientRows rows(report.clients);
    return finding_words(report, finding, rows);
}

std::vector<std::string> finding_sentences(const Report& report) {
    ClientRows rows(report.clients);
    return finding_sentences(report, rows);
}

namespace {

void append_findings(std::string& out, const Report& report, ClientRows& rows,
                     const Palette& palette) {
    const std::vector<std::string> findings = finding_sentences(report, rows);
    if (findings.empty()) {
        fmt::format_to(std::back_inserter(out), "\nFindings: {}\n",
                       palette.verdict(Verdict::ok, nothing_to_report));
        return;
    }
    out += "\nFindings, worst first\n";
    for (const std::string& finding : findings) {
        fmt::format_to(std::back_inserter(out), "  {} {}\n", palette.paint("-", "1;33"), finding);
    }
}

void append_connections(std::string& out, const Report& report) {
    fmt::format_to(std::back_inserter(out), "\nConnections: {} TCP, {} UDP\n",
                   report.tcp_connections, report.udp_flows);
    std::string states;
    for (std::size_t state = 0; state < report.states.size(); ++state) {
        if (report.states[state] == 0) continue;
        fmt::format_to(std::back_inserter(states), "{}{} {}", states.empty() ? "" : ", ",
                       state_name(static_cast<State>(state)), report.states[state]);
    }
    if (!states.empty()) fmt::format_to(std::back_inserter(out), "  states: {}\n", states);
    std::string reasons;
    for (std::size_t reason = 0; reason < role_reason_count; ++reason) {
        if (report.role_reasons[reason] == 0) continue;
        fmt::format_to(std::back_inserter(reasons), "{}{} {}", reasons.empty() ? "" : ", ",
                       role_reason_name(static_cast<RoleReason>(reason)),
                       report.role_reasons[reason]);
    }
    if (!reasons.empty())
        fmt::format_to(std::back_inserter(out), "  client chosen by: {}\n", reasons);
}

void append_more(std::string& out, std::size_t shown, std::size_t total) {
    if (total > shown)
        fmt::format_to(std::back_inserter(out), "  ... {} more (--top)\n", total - shown);
}

// The address column: as wide as the widest address shown (IPv6 widens it), at least 15.
std::size_t address_width(ClientRows& rows, std::size_t shown) {
    std::size_t width = 15;
    for (std::size_t row = 0; row < shown; ++row) {
        width = std::max(width, host_text(rows[row]).size());
    }
    return width;
}

void append_clients(std::string& out, const Report& report, ClientRows& rows, std::size_t top) {
    if (report.clients.empty()) return;
    fmt::format_to(std::back_inserter(out), "\nClients ({}), closest to exhaustion first\n",
                   report.clients.size());
    const std::size_t shown = std::min(top, report.clients.size());
    const std::size_t width = address_width(rows, shown);
    fmt::format_to(std::back_inserter(out),
                   "  {:<{}} {:>6} {:>6} {:>6} {:>6} {:>7} {:>12} {:>6}  {}\n", "address", width,
                   "tcp", "udp", "ports", "lowest", "highest", "services", "failed", "os hint");
    for (std::size_t row = 0; row < shown; ++row) {
        const ClientSummary& client = rows[row];
        const std::uint64_t failed =
            count(client.states, State::refused) + count(client.states, State::unanswered);
        const std::string hint = profile_names(client.port_use.allocation.os_hint);
        fmt::format_to(std::back_inserter(out),
                       "  {:<{}} {:>6} {:>6} {:>6} {:>6} {:>7} {:>12} {:>6}  {}\n",
                       host_text(client), width, client.tcp_connections, client.udp_flows,
                       client.ports.distinct, client.ports.min, client.ports.max, client.servers,
                       failed, hint.empty() ? "-" : hint);
    }
    append_more(out, shown, report.clients.size());
}

void append_port_use(std::string& out, const Report& report, ClientRows& rows, std::size_t top,
                     const Palette& palette) {
    if (report.clients.empty()) return;
    out += "\nPort use by client, closest to exhaustion first\n";
    const std::size_t shown = std::min(top, report.clients.size());
    const std::size_t width = address_width(rows, shown);
    fmt::format_to(std::back_inserter(out), "  {:<{}} {:<11} {:<10} {:<23} {:>11} {:>4} {}\n",
                   "address", width, "range", "basis", "allocation (confidence)", "occupied", "use",
                   "verdict");
    bool any_assumed = false;
    for (std::size_t row = 0; row < shown; ++row) {
        const ClientSummary& client = rows[row];
        const ClientPorts& use = client.port_use;
        const bool no_range = use.range.evidence == RangeEvidence::none;
        const std::string range =
            no_range ? "-" : fmt::format("{}-{}", use.range.range.low, use.range.range.high);
        const std::string occupied =
            use.exhaustion.destinations.empty() || no_range
                ? std::string("-")
                : fmt::format("{}/{}", use.exhaustion.destinations.front().peak_occupied,
                              use.range.limit());
        const std::string percent =
            no_range ? "-" : fmt::format("{:.0f}%", use.exhaustion.utilization * 100);
        const bool assumed = use.range.evidence == RangeEvidence::os_default ||
                             use.range.evidence == RangeEvidence::estimated;
        any_assumed = any_assumed || assumed;
        fmt::format_to(
            std::back_inserter(out), "  {:<{}} {:<11} {:<10} {:<23} {:>11} {:>4} {}\n",
            host_text(client), width, range,
            std::string(use.range.basis_name()) + (assumed ? "?" : ""),
            allocation_words(use.allocation), occupied, percent,
            palette.verdict(use.exhaustion.verdict, verdict_name(use.exhaustion.verdict)));
    }
    append_more(out, shown, report.clients.size());
    if (any_assumed) {
        out +=
            "  ?: assumed: the narrowest OS default holding the ports seen (range.fits in the "
            "JSON\n     lists every one that does); --range ADDR=LO-HI makes it certain\n";
    }
}

void append_servers(std::string& out, const Report& report, std::size_t top) {
    if (report.servers.empty()) return;
    fmt::format_to(std::back_inserter(out), "\nServices ({}), busiest first\n",
                   report.servers.size());
    fmt::format_to(std::back_inserter(out), "  {:<46} {:<5} {:>12} {:>8} {:>13}\n", "service",
                   "proto", "connections", "clients", "client ports");
    const std::size_t shown = std::min(top, report.servers.size());
    for (std::size_t row = 0; row < shown; ++row) {
        const ServerSummary& server = report.servers[row];
        fmt::format_to(std::back_inserter(out), "  {:<46} {:<5} {:>12} {:>8} {:>13}\n",
                       service_text(server), to_string(server.protocol), server.connections,
                       server.clients, server.client_ports);
    }
    append_more(out, shown, report.servers.size());
}

// What was unwrapped, busiest first: each outermost tunnel with its packets and the connections
// those began.
void append_tunnels(std::string& out, const Report& report, std::size_t top) {
    std::vector<TunnelTally> tunnels = report.capture.tunnels;
    if (tunnels.empty()) return;
    std::stable_sort(
        tunnels.begin(), tunnels.end(),
        [](const TunnelTally& a, const TunnelTally& b) { return a.packets > b.packets; });
    fmt::format_to(std::back_inserter(out), "\nTunnels ({}), busiest first\n", tunnels.size());
    fmt::format_to(std::back_inserter(out), "  {:<70} {:>10} {:>12}\n", "tunnel", "packets",
                   "connections");
    const std::size_t shown = std::min(top, tunnels.size());
    for (std::size_t row = 0; row < shown; ++row) {
        fmt::format_to(std::back_inserter(out), "  {:<70} {:>10} {:>12}\n",
                       tunnel_words(tunnels[row]), tunnels[row].packets,
                       tunnels[row].inner_connections);
    }
    append_more(out, shown, tunnels.size());
}

// Each translator whose both sides the capture holds, and the inside hosts behind it.
void append_translations(std::string& out, const Report& report, std::size_t top) {
    if (report.translations.empty()) return;
    fmt::format_to(std::back_inserter(out), "\nTranslations (NAT), both sides seen ({})\n",
                   report.translations.size());
    for (const Translation& translation : report.translations) {
        fmt::format_to(std::back_inserter(out),
                       "  {} ({}): {} of {} connections paired with the inside one\n",
                       to_string(translation.outside), mapping_name(translation.mapping),
                       translation.paired, translation.paired + translation.unpaired);
        fmt::format_to(std::back_inserter(out), "    {:<40} {:>12} {:>10} {:>10}\n", "inside host",
                       "connections", "peak ports", "port share");
        const std::size_t shown = std::min(top, translation.inside_hosts.size());
        for (std::size_t row = 0; row < shown; ++row) {
            const InsideHost& host = translation.inside_hosts[row];
            fmt::format_to(std::back_inserter(out), "    {:<40} {:>12} {:>10} {:>9.0f}%\n",
                           to_string(host.address), host.connections, host.peak_ports,
                           host.port_share * 100);
        }
        append_more(out, shown, translation.inside_hosts.size());
    }
}

}  // namespace

std::string render_text(const Report& report, const ReportOptions& options) {
    std::string out;
    append_header(out, report.capture);
    const Palette palette{options.color};
    ClientRows rows(report.clients);
    append_findings(out, report, rows, palette);
    append_connections(out, report);
    append_clients(out, report, rows, options.top);
    append_port_use(out, report, rows, options.top, palette);
    append_servers(out, report, options.top);
    append_tunnels(out, report, options.top);
    append_translations(out, report, options.top);
    return out;
}

}  // namespace ephemera
