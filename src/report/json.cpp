#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include <rapidjson/prettywriter.h>
#include <rapidjson/writer.h>
#include <nlohmann/json.hpp>

#include "ephemera/analysis/two_cores.hpp"
#include "ephemera/report/report.hpp"

namespace ephemera {
namespace {

using nlohmann::ordered_json;

// Seconds since the epoch; a double holds microseconds exactly enough at today's dates.
double epoch_seconds(Micros time) {
    return static_cast<double>(time) / 1e6;
}

ordered_json state_counts(const std::array<std::uint64_t, 7>& states) {
    ordered_json counts = ordered_json::object();
    for (std::size_t state = 0; state < states.size(); ++state) {
        if (states[state] != 0) {
            counts[std::string(state_name(static_cast<ConnectionState>(state)))] = states[state];
        }
    }
    return counts;
}

ordered_json capture_json(const CaptureSummary& capture) {
    ordered_json inputs = ordered_json::array();
    for (const CaptureSummary::File& file : capture.files) {
        inputs.push_back({{"path", file.path},
                          {"link_type", file.link_type},
                          {"packets", file.packets},
                          {"sections", file.sections},
                          {"compression", file.compression},
                          {"complete", file.stopped.empty()},
                          {"bytes_unread", file.bytes_unread}});
    }
    ordered_json skipped = ordered_json::object();
    for (std::size_t reason = 1; reason < decode_status_count; ++reason) {
        skipped[std::string(reason_name(static_cast<DecodeStatus>(reason)))] =
            capture.skipped[reason];
    }
    ordered_json result = {{"inputs", inputs},
                           {"packets", capture.packets},
                           {"decoded", capture.decoded},
                           {"first_at", nullptr},
                           {"last_at", nullptr},
                           {"duration_s", 0.0},
                           {"skipped", skipped},
                           {"duplicates", capture.duplicates},
                           {"backward_steps", capture.backward_steps},
                           {"tracker",
                            {{"max_connections", capture.max_connections},
                             {"evicted_half_open", capture.evicted_half_open},
                             {"evicted_other", capture.evicted_other}}}};
    // An empty capture has no first or last packet, and lasted no time.
    if (capture.packets > 0) {
        result["first_at"] = epoch_seconds(capture.first);
        result["last_at"] = epoch_seconds(capture.last);
        result["duration_s"] = epoch_seconds(capture.last - capture.first);
    }
    if (capture.live) {
        result["drops"] = {{"kernel", capture.kernel_drops},
                           {"interface", capture.interface_drops}};
    }
    return result;
}

// Ratios and rates to four decimals, so reports diff cleanly.
double rounded(double value) {
    return std::round(value * 1e4) / 1e4;
}

template <typename T>
constexpr bool is_optional = false;
template <typename T>
constexpr bool is_optional<std::optional<T>> = true;

// Where RapidJSON's writers put a client's entries: an output stream as RapidJSON defines them
// (Ch, Put, Flush, and the PutReserve, PutUnsafe and PutN it calls where a stream offers them).
// The text is stored as char8_t, not char: a char may alias any object, so through
// rapidjson::StringBuffer the compiler loads and stores the buffer's end around every character
// written, one character every few cycles; a char8_t aliases nothing else, and the end stays in a
// register. The bytes are the same.
class JsonText {
  public:
    using Ch = char;

    void Put(char c) {
        reserve(1);
        put_unsafe(c);
    }
    void Flush() noexcept {}

    // Room for `count` more characters.
    void reserve(std::size_t count) {
        if (static_cast<std::size_t>(end_ - cursor_) < count) grow(count);
    }
    // After reserve.
    void put_unsafe(char c) noexcept { *cursor_++ = static_cast<char8_t>(c); }
    void put_unsafe(char c, std::size_t count) noexcept {
        if (count == 0) return;  // the buffer may not exist yet
        std::memset(cursor_, c, count);
        cursor_ += count;
    }

    void clear() noexcept { cursor_ = buffer_.get(); }
    std::size_t size() const noexcept { return static_cast<std::size_t>(cursor_ - buffer_.get()); }
    std::string_view text() const noexcept {
        return {reinterpret_cast<const char*>(buffer_.get()), size()};
    }

  private:
    struct Free {
        void operator()(char8_t* buffer) const noexcept { std::free(buffer); }
    };

    // By half as much again, as RapidJSON's own buffer grows, and in place where the allocator
    // can (realloc): a report's batch of entries is megabytes, and two copies of it at once
    // would show in the peak.
    void grow(std::size_t count) {
        const std::size_t used = size();
        const auto capacity = static_cast<std::size_t>(end_ - buffer_.get());
        const std::size_t wanted = std::max(used + count, capacity + capacity / 2 + 4096);
        auto* grown = static_cast<char8_t*>(std::realloc(buffer_.get(), wanted));
        if (grown == nullptr) throw std::bad_alloc();
        static_cast<void>(buffer_.release());
        buffer_.reset(grown);
        cursor_ = grown + used;
        end_ = grown + wanted;
    }

    std::unique_ptr<char8_t, Free> buffer_;
    char8_t* cursor_ = nullptr;
    char8_t* end_ = nullptr;
};

// Found by RapidJSON's writers (argument-dependent lookup) before its generic versions.
void PutReserve(JsonText& stream, std::size_t count) {
    stream.reserve(count);
}
void PutUnsafe(JsonText& stream, char c) {
    stream.put_unsafe(c);
}
void PutN(JsonText& stream, char c, std::size_t count) {
    stream.reserve(count);
    stream.put_unsafe(c, count);
}

// Client entries are written as they are formatted, through RapidJSON's writer (no document is
// built: building nlohmann_json objects took most of a large report's time), member by member in
// the order and the form nlohmann_json's dump gives the rest of the document.
template <typename Writer>
class EntryWriter {
  public:
    explicit EntryWriter(Writer& writer) : writer_(writer) {}

    void start_object() { writer_.StartObject(); }
    void end_object() { writer_.EndObject(); }
    void start_array() { writer_.StartArray(); }
    void end_array() { writer_.EndArray(); }
    void key(std::string_view name) {
        writer_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    }

    // Integers, doubles, booleans, text, nullptr (null) and std::optional of those.
    template <typename Value>
    void value(const Value& value) {
        if constexpr (std::is_same_v<Value, bool>) {
            writer_.Bool(value);
        } else if constexpr (std::is_integral_v<Value> && std::is_signed_v<Value>) {
            writer_.Int64(value);
        } else if constexpr (std::is_integral_v<Value>) {
            writer_.Uint64(value);
        } else if constexpr (std::is_floating_point_v<Value>) {
            number(static_cast<double>(value));
        } else if constexpr (std::is_same_v<Value, std::nullptr_t>) {
            writer_.Null();
        } else if constexpr (is_optional<Value>) {
            if (value) {
                this->value(*value);
            } else {
                writer_.Null();
            }
        } else {
            // A client's text is ASCII without control characters (addresses, names, numbers),
            // which both libraries write alike; they escape the others differently.
            const std::string_view text(value);
            writer_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        }
    }

    template <typename Value>
    void member(std::string_view name, const Value& value) {
        key(name);
        this->value(value);
    }

  private:
    // As nlohmann_json's dump writes a double (its own shortest round-trip digits, which are not
    // RapidJSON's in the last digit of about one in 4,000), null where not finite.
    void number(double value) {
        if (!std::isfinite(value)) {
            writer_.Null();
            return;
        }
        std::array<char, 64> text;
        const char* end = nlohmann::detail::to_chars(text.data(), text.data() + text.size(), value);
        writer_.RawValue(text.data(), static_cast<std::size_t>(end - text.data()),
                         rapidjson::kNumberType);
    }

    Writer& writer_;
};

template <typename Writer>
void write_allocation(EntryWriter<Writer>& out, const AllocationFingerprint& allocation) {
    out.start_object();
    out.member("pattern", pattern_name(allocation.pattern));
    out.member("confidence", rounded(allocation.confidence));
    out.member("even_share", rounded(allocation.even_share));
    out.member("os_hint", profile_names(allocation.os_hint));
    out.member("os_hint_note", allocation.dropped_hint.empty()
                                   ? std::nullopt
                                   : std::optional<std::string>(os_hint_note(allocation)));
    out.member("samples", allocation.samples);
    out.member("unknown_because", allocation.unknown_because == UnknownBecause::known
                                      ? std::nullopt
                                      : std::optional<std::string_view>(
                                            unknown_because_name(allocation.unknown_because)));
    out.end_object();
}

template <typename Writer>
void write_destination(EntryWriter<Writer>& out, const DestinationOccupancy& destination) {
    out.start_object();
    out.member("address", to_string(destination.server.address));
    out.member("port", destination.server.port);
    out.member("protocol", to_string(destination.protocol));
    out.member("connections", destination.connections);
    out.member("peak_open", destination.peak_open);
    out.member("peak_occupied", destination.peak_occupied);
    out.member("peak_at", epoch_seconds(destination.peak_at));
    out.member("occupied_at_end", destination.occupied_at_end);
    out.member("utilization", rounded(destination.utilization));
    out.member("peak_new_per_s", rounded(destination.peak_new_per_s));
    // UDP has no TIME_WAIT, so no rate its range sustains.
    out.member("sustainable_new_per_s",
               destination.protocol == Protocol::tcp
                   ? std::optional<double>(rounded(destination.sustainable_new_per_s))
                   : std::nullopt);
    out.member("verdict", verdict_name(destination.verdict));
    out.end_object();
}

template <typename Writer>
void write_range(EntryWriter<Writer>& out, const RangeEstimate& range) {
    const bool known = range.evidence != RangeEvidence::none;
    const auto if_known = [known](std::uint16_t port) {
        return known ? std::optional<std::uint16_t>(port) : std::nullopt;
    };
    out.start_object();
    out.member("low", if_known(range.range.low));
    out.member("high", if_known(range.range.high));
    out.member("size", known ? range.limit() : 0);
    out.member("basis", range.basis_name());
    out.member("evidence", evidence_name(range.evidence));
    out.member("ports_seen", range.ports_seen);
    out.member("seen_low", if_known(range.seen.low));
    out.member("seen_high", if_known(range.seen.high));
    out.key("fits");
    out.start_array();
    for (const std::string_view name : default_names(range.fits)) out.value(name);
    out.end_array();
    if (range.evidence == RangeEvidence::configured) out.member("outside", range.outside);
    out.end_object();
}

template <typename Writer>
void write_evidence(EntryWriter<Writer>& out, SharedEvidence kind, const std::string& detail) {
    out.start_object();
    out.member("kind", shared_evidence_name(kind));
    out.member("detail", detail);
    out.end_object();
}

template <typename Writer>
void write_shared(EntryWriter<Writer>& out, const ClientPorts& use) {
    const SharedAddress& shared = use.shared;
    const std::string unknown = shared_unknown_words(shared);
    out.start_object();
    out.member("likely", shared.likely);
    out.member("hosts_estimate", shared.hosts_estimate >= 2
                                     ? std::optional<std::uint32_t>(shared.hosts_estimate)
                                     : std::nullopt);
    out.member("hosts_estimate_is_minimum", shared.hosts_estimate >= 2 && shared.hosts_at_least);
    out.member("unknown_because",
               unknown.empty() ? std::nullopt : std::optional<std::string>(unknown));
    out.key("evidence");
    out.start_array();
    if (shared.evidence != SharedEvidence::none) {
        write_evidence(out, shared.evidence, shared_evidence_words(use));
    }
    if (shared.syn_fingerprints >= 2 && shared.evidence != SharedEvidence::syn_fingerprints) {
        write_evidence(out, SharedEvidence::syn_fingerprints, fingerprint_words(shared));
    }
    out.end_array();
    out.end_object();
}

template <typename Writer>
void write_reuse(EntryWriter<Writer>& out, const ReuseStats& reuse) {
    out.start_object();
    out.member("tuple_reuses", reuse.tuple_reuses);
    out.member("time_wait_reuses", reuse.time_wait_reuses);
    out.member("active_reuses", reuse.active_reuses);
    out.member("port_reuses", reuse.port_reuses);
    out.member("other_service_reuses", reuse.port_reuses - reuse.tuple_reuses);
    out.member("time_wait_collisions", reuse.time_wait_collisions);
    out.member("min_port_reuse_interval_s", rounded(reuse.min_interval_s));
    out.member("median_port_reuse_interval_s", rounded(reuse.median_interval_s));
    out.end_object();
}

template <typename Writer>
void write_exhaustion(EntryWriter<Writer>& out, const ExhaustionStats& exhaustion,
                      std::size_t destinations) {
    out.start_object();
    out.member("peak_open_total", exhaustion.peak_open_total);
    out.member("peak_occupied_total", exhaustion.peak_occupied_total);
    out.member("udp_peak_occupied_total", exhaustion.udp_peak_occupied_total);
    out.member("utilization", rounded(exhaustion.utilization));
    out.member("verdict", verdict_name(exhaustion.verdict));
    out.member("time_wait_s", exhaustion.time_wait_s);
    out.member("service_count", exhaustion.destinations.size());
    out.key("services");
    out.start_array();
    for (std::size_t i = 0; i < exhaustion.destinations.size() && i < destinations; ++i) {
        write_destination(out, exhaustion.destinations[i]);
    }
    out.end_array();
    out.end_object();
}

template <typename Writer>
void write_failures(EntryWriter<Writer>& out, const FailureStats& failures) {
    out.start_object();
    out.member("refused", failures.refused);
    out.member("unanswered", failures.unanswered);
    out.member("syn_retransmissions", failures.syn_retransmissions);
    out.end_object();
}

template <typename Writer>
void write_states(EntryWriter<Writer>& out, const std::array<std::uint64_t, 7>& states) {
    out.start_object();
    for (std::size_t state = 0; state < states.size(); ++state) {
        if (states[state] != 0) {
            out.member(state_name(static_cast<ConnectionState>(state)), states[state]);
        }
    }
    out.end_object();
}

// A segment's name, or null without --split-segments or outside any VLAN or tunnel.
std::optional<std::string_view> segment_or_null(const std::string& segment) {
    return segment.empty() ? std::nullopt : std::optional<std::string_view>(segment);
}

// One entry of the report's "clients" (docs/json.md).
template <typename Writer>
void write_client(EntryWriter<Writer>& out, const ClientSummary& client, std::size_t destinations) {
    const ClientPorts& use = client.port_use;
    out.start_object();
    out.member("address", to_string(client.address));
    out.member("segment", segment_or_null(client.segment));
    out.member("tcp_connections", client.tcp_connections);
    out.member("udp_flows", client.udp_flows);
    out.key("ports");
    out.start_object();
    out.member("distinct", client.ports.distinct);
    out.member("min", client.ports.min);
    out.member("max", client.ports.max);
    out.end_object();
    out.member("service_count", client.servers);
    out.key("states");
    write_states(out, client.states);
    out.key("range");
    write_range(out, use.range);
    out.key("allocation");
    write_allocation(out, use.allocation);
    out.key("allocation_udp");
    write_allocation(out, use.allocation_udp);
    out.key("reuse");
    write_reuse(out, use.reuse);
    out.key("exhaustion");
    write_exhaustion(out, use.exhaustion, destinations);
    out.key("failures");
    write_failures(out, use.failures);
    out.key("shared");
    write_shared(out, use);
    out.end_object();
}

// The same entry as a value of a document built with nlohmann_json (live's reports, whose
// windows hold few clients).
ordered_json client_json(const ClientSummary& client, std::size_t destinations) {
    JsonText text;
    rapidjson::Writer<JsonText> writer(text);
    EntryWriter entry(writer);
    write_client(entry, client, destinations);
    return ordered_json::parse(text.text());
}

// Below this many clients a second thread costs more than it saves.
constexpr std::size_t min_clients_to_share = 64;

// A segment's name, or null without --split-segments or outside any VLAN or tunnel.
ordered_json segment_json(const std::string& segment) {
    return segment.empty() ? ordered_json(nullptr) : ordered_json(segment);
}

ordered_json server_json(const ServerSummary& server) {
    return {{"address", to_string(server.endpoint.address)},
            {"segment", segment_json(server.segment)},
            {"port", server.endpoint.port},
            {"protocol", to_string(server.protocol)},
            {"connections", server.connections},
            {"clients", server.clients},
            {"client_ports", server.client_ports}};
}

// The document's members in order, each built when it is written: the clients' entries, most of
// the document, are left to write_clients.
enum class Member : std::uint8_t {
    schema,
    capture,
    warnings,
    connections,
    clients,
    services,
    scans,
    tunnels,
    nat,
};
inline constexpr std::array<std::pair<Member, const char*>, 9> members = {{
    {Member::schema, "schema"},
    {Member::capture, "capture"},
    {Member::warnings, "warnings"},
    {Member::connections, "connections"},
    {Member::clients, "clients"},
    {Member::services, "services"},
    {Member::scans, "scans"},
    {Member::tunnels, "tunnels"},
    {Member::nat, "nat"},
}};

ordered_json connections_json(const Report& report) {
    ordered_json role_reasons = ordered_json::object();
    for (std::size_t reason = 0; reason < role_reason_count; ++reason) {
        if (report.role_reasons[reason] != 0) {
            role_reasons[std::string(role_reason_name(static_cast<RoleReason>(reason)))] =
                report.role_reasons[reason];
        }
    }
    return {{"tcp", report.tcp_connections},
            {"udp", report.udp_flows},
            {"states", state_counts(report.states)},
            {"role_reasons", std::move(role_reasons)}};
}

ordered_json scans_json(const std::vector<ScanSummary>& scans) {
    ordered_json entries = ordered_json::array();
    for (const ScanSummary& scan : scans) {
        entries.push_back({{"source", to_string(scan.source)},
                           {"hosts", scan.hosts},
                           {"ports", scan.ports},
                           {"probes", scan.probes},
                           {"answered", scan.answered},
                           {"first_at", epoch_seconds(scan.first)},
                           {"last_at", epoch_seconds(scan.last)}});
    }
    return entries;
}

ordered_json tunnels_json(const std::vector<TunnelTally>& tunnels) {
    ordered_json entries = ordered_json::array();
    for (const TunnelTally& tunnel : tunnels) {
        const bool outer_ip = tunnel.outer_source.family != Family::none;
        entries.push_back(
            {{"kind", tunnel_name(tunnel.kind)},
             {"outer", outer_ip ? ordered_json{{"source", to_string(tunnel.outer_source)},
                                               {"destination", to_string(tunnel.outer_destination)}}
                                : ordered_json(nullptr)},
             {"id", tunnel.has_id ? ordered_json(tunnel.id) : ordered_json(nullptr)},
             {"packets", tunnel.packets},
             {"inner_connections", tunnel.inner_connections}});
    }
    return entries;
}

ordered_json nat_json(const std::vector<Translation>& translations) {
    ordered_json entries = ordered_json::array();
    for (const Translation& translation : translations) {
        ordered_json inside = ordered_json::array();
        for (const InsideHost& host : translation.inside_hosts) {
            inside.push_back({{"address", to_string(host.address)},
                              {"connections", host.connections},
                              {"peak_ports", host.peak_ports},
                              {"port_share", rounded(host.port_share)}});
        }
        entries.push_back({{"outside", to_string(translation.outside)},
                           {"inside_hosts", std::move(inside)},
                           {"mapping", mapping_name(translation.mapping)},
                           {"paired", translation.paired},
                           {"unpaired", translation.unpaired}});
    }
    return entries;
}

// Every member but the clients.
ordered_json member_json(Member member, const Report& report) {
    switch (member) {
        case Member::schema:
            return report_schema;
        case Member::capture:
            return capture_json(report.capture);
        case Member::warnings:
            return report.warnings;
        case Member::connections:
            return connections_json(report);
        case Member::services: {
            ordered_json servers = ordered_json::array();
            for (const ServerSummary& server : report.servers)
                servers.push_back(server_json(server));
            return servers;
        }
        case Member::scans:
            return scans_json(report.scans);
        case Member::tunnels:
            return tunnels_json(report.capture.tunnels);
        case Member::nat:
            return nat_json(report.translations);
        case Member::clients:
            break;
    }
    return ordered_json::array();
}

// The whole document at once, for the one-line form of live's final report: a live window's
// clients are few.
ordered_json report_document(const Report& report, const ReportOptions& options) {
    ordered_json document = ordered_json::object();
    for (const auto& [member, key] : members) {
        if (member != Member::clients) {
            document[key] = member_json(member, report);
            continue;
        }
        ordered_json clients = ordered_json::array();
        for (const ClientSummary& client : report.clients) {
            clients.push_back(client_json(client, options.destinations));
        }
        document[key] = std::move(clients);
    }
    return document;
}

// Writes `text` (as dump(2) writes a value) where it sits `depth` levels deep in a document
// dumped with an indent of 2: every line after the first indented by 2 * depth spaces. JSON text
// has no newline but those between its lines (strings escape theirs).
void write_indented(std::FILE* out, std::string_view text, int depth) {
    const std::string indent(static_cast<std::size_t>(2 * depth), ' ');
    std::string indented;
    for (std::size_t newline; (newline = text.find('\n')) != std::string_view::npos;) {
        indented.append(text.substr(0, newline + 1));
        indented.append(indent);
        text.remove_prefix(newline + 1);
    }
    indented.append(text);
    std::fwrite(indented.data(), 1, indented.size(), out);
}

std::string dumped(const ordered_json& value) {
    return value.dump(2, ' ', false, ordered_json::error_handler_t::replace);
}

// Clients per batch: each batch's entries are formatted on two cores, written, and let go, so
// the document is never held whole.
constexpr std::size_t clients_per_batch = 4096;

// Client entries formatted as they sit in the report: in the array of its "clients" member,
// two levels deep, each after a newline and its indentation, with commas between them, as
// dump(2) writes the rest of the document.
class ClientEntries {
  public:
    ClientEntries() {
        writer_.SetIndent(' ', 2);
        clear();
    }
    ClientEntries(const ClientEntries&) = delete;  // the writer writes into text_
    ClientEntries& operator=(const ClientEntries&) = delete;

    void clear() {
        text_.clear();
        writer_.Reset(text_);
        // The entries' context, cut off again by entries().
        writer_.StartObject();
        writer_.Key("clients");
        writer_.StartArray();
        context_ = text_.size();
    }
    void add(const ClientSummary& client, std::size_t destinations) {
        EntryWriter entry(writer_);
        write_client(entry, client, destinations);
    }
    // The entries so far, the first after a newline, the others after a comma and a newline.
    std::string_view entries() const { return text_.text().substr(context_); }

  private:
    JsonText text_;
    rapidjson::PrettyWriter<JsonText> writer_{text_};
    std::size_t context_ = 0;
};

// The clients' array, as dump(2) would write it one level deep.
void write_clients(std::FILE* out, const ClientList& clients, std::size_t destinations) {
    if (clients.empty()) {
        std::fputs("[]", out);
        return;
    }
    std::fputs("[", out);
    std::array<ClientEntries, 2> halves;
    bool first = true;
    for (std::size_t begin = 0; begin < clients.size(); begin += clients_per_batch) {
        const std::size_t end = std::min(clients.size(), begin + clients_per_batch);
        const std::size_t middle = begin + (end - begin) / 2;
        const auto format = [&](std::size_t half) {
            ClientEntries& entries = halves[half];
            entries.clear();
            const std::size_t last = half == 0 ? middle : end;
            for (std::size_t i = half == 0 ? begin : middle; i < last; ++i) {
                entries.add(clients[i], destinations);
            }
        };
        run_on_two_cores_if(
            end - begin >= min_clients_to_share, [&] { format(1); }, [&] { format(0); });
        for (const ClientEntries& half : halves) {
            const std::string_view entries = half.entries();
            if (entries.empty()) continue;
            if (!first) std::fputc(',', out);
            first = false;
            std::fwrite(entries.data(), 1, entries.size(), out);
        }
    }
    std::fputs("\n  ]", out);
}

ordered_json destination_now_json(const DestinationNow& destination) {
    return {{"client", to_string(destination.client)},
            {"address", to_string(destination.server.address)},
            {"port", destination.server.port},
            {"protocol", to_string(destination.protocol)},
            {"occupied", destination.occupied},
            {"range_size", destination.range_size},
            {"utilization", rounded(destination.utilization)},
            {"peak_occupied", destination.peak_occupied},
            {"new_per_s", rounded(destination.new_per_s)},
            {"sustainable_new_per_s", rounded(destination.sustainable_per_s)},
            {"verdict", verdict_name(destination.verdict)},
            {"connections_total", destination.connections_total}};
}

ordered_json client_now_json(const ClientNow& client) {
    return {{"address", to_string(client.address)},
            {"started", client.started},
            {"new_per_s", rounded(client.new_per_s)},
            {"open", client.open},
            {"service_count", client.destinations},
            {"range",
             {{"low", client.range.range.low},
              {"high", client.range.range.high},
              {"basis", client.range.basis_name()}}},
            {"utilization", rounded(client.utilization)},
            {"verdict", verdict_name(client.verdict)}};
}

}  // namespace

void write_json(std::FILE* out, const Report& report, const ReportOptions& options) {
    std::fputs("{", out);
    for (const auto& [member, key] : members) {
        fmt::print(out, "{}\n  \"{}\": ", member == Member::schema ? "" : ",", key);
        if (member == Member::clients) {
            write_clients(out, report.clients, options.destinations);
        } else {
            write_indented(out, dumped(member_json(member, report)), 1);
        }
    }
    std::fputs("\n}\n", out);
}

std::string render_json(const Report& report, const ReportOptions& options) {
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* memory = open_memstream(&buffer, &size);
    if (memory == nullptr) throw std::bad_alloc();
    write_json(memory, report, options);
    std::fclose(memory);
    std::string rendered(buffer, size);
    std::free(buffer);
    return rendered;
}

std::string render_json_line(const Report& report, const ReportOptions& options) {
    return report_document(report, options)
               .dump(-1, ' ', false, ordered_json::error_handler_t::replace) +
           "\n";
}

std::string render_live_json(const LiveSnapshot& snapshot, const LiveHealth& health,
                             const ReportOptions& options) {
    ordered_json document = report_document(snapshot.window_report, options);
    ordered_json destinations = ordered_json::array();
    for (std::size_t i = 0; i < snapshot.destinations.size() && i < options.top; ++i) {
        destinations.push_back(destination_now_json(snapshot.destinations[i]));
    }
    ordered_json clients = ordered_json::array();
    for (std::size_t i = 0; i < snapshot.clients.size() && i < options.top; ++i) {
        clients.push_back(client_now_json(snapshot.clients[i]));
    }
    document["live"] = {
        {"interface", health.interface},
        {"now_at", epoch_seconds(snapshot.time)},
        {"started_at", epoch_seconds(snapshot.started)},
        {"window_s", epoch_seconds(snapshot.window)},
        {"packets", health.packets},
        {"packets_per_s", rounded(health.packets_per_s)},
        {"kernel_drops", health.kernel_drops},
        {"interface_drops", health.interface_drops},
        {"open_connections", snapshot.open_connections},
        {"tracked_connections", snapshot.tracked_connections},
        {"tcp_started_total", snapshot.tcp_started_total},
        {"udp_started_total", snapshot.udp_started_total},
        {"service_count", snapshot.destinations.size()},
        {"services", destinations},
        {"clients", clients},
    };
    return document.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace ephemera
