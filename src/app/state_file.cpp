#include "ephemera/app/state_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

using nlohmann::json;

// Version 2 is version 1 with the segments of a capture read with --split-segments; a state of a
// capture read without is written as version 1, which earlier builds read too.
constexpr std::string_view magic_prefix = "ephemera-state ";
constexpr int plain_version = 1;
constexpr int segmented_version = 2;
constexpr std::size_t host_size = 18;
constexpr std::size_t record_size = 86;
constexpr std::size_t max_header_line = std::size_t{64} << 20;

// Little-endian fields into a buffer that is written out as it fills.
class Encoder {
  public:
    explicit Encoder(std::FILE* out) : out_(out) {}
    ~Encoder() { flush(); }
    template <typename Integer>
    void put(Integer value) {
        auto bits = static_cast<std::make_unsigned_t<Integer>>(value);
        for (std::size_t i = 0; i < sizeof(Integer); ++i) {
            buffer_.push_back(static_cast<std::uint8_t>(bits & 0xff));
            bits = static_cast<decltype(bits)>(bits >> 8);
        }
    }
    void put_bytes(const std::uint8_t* bytes, std::size_t count) {
        buffer_.insert(buffer_.end(), bytes, bytes + count);
    }
    void end_item() {
        if (buffer_.size() >= 1 << 16) flush();
    }
    void flush() {
        if (!buffer_.empty()) std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
        buffer_.clear();
    }

  private:
    std::FILE* out_;
    std::vector<std::uint8_t> buffer_;
};

// Fixed-size items from a stream, each checked complete.
class Decoder {
  public:
    Decoder(const std::string& path, ByteStream& stream) : path_(path), stream_(stream) {}

    [[noreturn]] void damaged(const std::string& why) const {
        throw UserError(fmt::format("{}: not a saved state this version reads ({})", path_, why));
    }
    // The next line, without its newline.
    std::string line() {
        std::string text;
        for (;;) {
            const std::uint8_t byte = next_byte();
            if (byte == '\n') return text;
            if (text.size() == max_header_line) damaged("a header line runs on");
            text.push_back(static_cast<char>(byte));
        }
    }
    // The next `count` bytes, valid until the next call.
    const std::uint8_t* take(std::size_t count) {
        if (end_ - at_ < count) refill(count);
        const std::uint8_t* item = buffer_.data() + at_;
        at_ += count;
        return item;
    }
    bool at_end() {
        if (at_ < end_) return false;
        refill(0);
        return at_ == end_;
    }

  private:
    std::uint8_t next_byte() { return *take(1); }
    void refill(std::size_t needed) {
        std::memmove(buffer_.data(), buffer_.data() + at_, end_ - at_);
        end_ -= at_;
        at_ = 0;
        while (end_ < needed || (needed == 0 && end_ == 0)) {
            const std::ptrdiff_t got = stream_.read(buffer_.data() + end_, buffer_.size() - end_);
            if (got < 0) damaged(stream_.error());
            if (got == 0) {
                if (needed == 0) return;
                damaged("it ends in the middle");
            }
            end_ += static_cast<std::size_t>(got);
        }
    }

    const std::string& path_;
    ByteStream& stream_;
    std::array<std::uint8_t, 1 << 16> buffer_{};
    std::size_t at_ = 0;
    std::size_t end_ = 0;
};

template <typename Integer>
Integer get(const std::uint8_t*& at) {
    std::make_unsigned_t<Integer> bits = 0;
    for (std::size_t i = sizeof(Integer); i-- > 0;) {
        bits = static_cast<decltype(bits)>(bits << 8 | at[i]);
    }
    at += sizeof(Integer);
    return static_cast<Integer>(bits);
}

// A tunnel's outer address as text; "" where it has none (MPLS, PPP).
std::string address_text(const Address& address) {
    return address.family == Family::none ? "" : to_string(address);
}

Address address_from(const std::uint8_t* bytes, const Decoder& decoder) {
    Address address;
    if (bytes[0] > static_cast<std::uint8_t>(Family::ipv6)) decoder.damaged("an address family");
    address.family = static_cast<Family>(bytes[0]);
    address.segment = bytes[1];
    std::copy_n(bytes + 2, address.bytes.size(), address.bytes.begin());
    return address;
}

Address address_of_text(const std::string& text, const Decoder& decoder) {
    Address address;
    if (!text.empty() && !parse_address(text, address)) decoder.damaged("a tunnel's address");
    return address;
}

json summary_json(const ConnectionRecords& records, const SavedState& state) {
    const CaptureSummary& capture = state.capture;
    json files = json::array();
    for (const CaptureSummary::File& file : capture.files) {
        files.push_back({{"path", file.path},
                         {"link_type", file.link_type},
                         {"packets", file.packets},
                         {"sections", file.sections},
                         {"compression", file.compression},
                         {"stopped", file.stopped},
                         {"bytes_unread", file.bytes_unread}});
    }
    json tunnels = json::array();
    for (const TunnelTally& tunnel : capture.tunnels) {
        tunnels.push_back({{"kind", static_cast<int>(tunnel.kind)},
                           {"has_id", tunnel.has_id},
                           {"id", tunnel.id},
                           {"outer_source", address_text(tunnel.outer_source)},
                           {"outer_destination", address_text(tunnel.outer_destination)},
                           {"packets", tunnel.packets},
                           {"inner_connections", tunnel.inner_connections},
                           {"first_seen", tunnel.first_seen}});
    }
    json summary = {{"version", capture.split_segments ? segmented_version : plain_version},
                    {"hosts", records.host_count()},
                    {"records", records.size()},
                    {"files", files},
                    {"packets", capture.packets},
                    {"decoded", capture.decoded},
                    {"first", capture.first},
                    {"last", capture.last},
                    {"skipped", capture.skipped},
                    {"tunnels", tunnels},
                    {"duplicates", capture.duplicates},
                    {"backward_steps", capture.backward_steps},
                    {"largest_backward_step", capture.largest_backward_step},
                    {"max_connections", capture.max_connections},
                    {"evicted_half_open", capture.evicted_half_open},
                    {"evicted_other", capture.evicted_other},
                    {"filtered", capture.filtered},
                    {"input_warnings", state.input_warnings},
                    {"reader_warnings", state.reader_warnings}};
    if (capture.split_segments) {
        json segments = json::array();
        for (const SegmentPath& path : capture.segments) {
            json hops = json::array();
            for (std::size_t i = 0; i < path.count; ++i) {
                const SegmentHop& hop = path.hops[i];
                hops.push_back({static_cast<int>(hop.kind), hop.has_id, hop.id});
            }
            segments.push_back(std::move(hops));
        }
        summary["segments"] = std::move(segments);
        summary["packets_in_shared_segment"] = capture.packets_in_shared_segment;
    }
    return summary;
}

void put_record(Encoder& out, const ConnectionRecords& records, const ConnectionRecord& record) {
    const ConnectionActivity c = records.activity(record);
    out.put(c.first_seen);
    out.put(c.last_seen);
    for (const std::uint64_t count : c.packets) out.put(count);
    for (const std::uint64_t bytes : c.payload_bytes) out.put(bytes);
    out.put(c.close_time);
    out.put(c.syn_sequence);
    out.put(c.syn_retransmissions);
    out.put(static_cast<std::uint8_t>(c.protocol));
    out.put(static_cast<std::uint8_t>(c.end_reason));
    out.put(static_cast<std::int8_t>(c.syn_side));
    out.put(static_cast<std::int8_t>(c.syn_ack_side));
    out.put(static_cast<std::int8_t>(c.first_fin_side));
    out.put(static_cast<std::int8_t>(c.rst_side));
    out.put(c.syn_ttl);
    out.put(c.syn_option_layout);
    out.put(static_cast<std::uint8_t>(c.fin_from_0 | c.fin_from_1 << 1 | c.stale_ack << 2 |
                                      c.time_wait_collision << 3));
    for (const std::uint32_t host : record.host) out.put(host);
    for (const std::uint16_t port : record.port) out.put(port);
    out.put(static_cast<std::uint8_t>(record.client_side));
    out.put(static_cast<std::uint8_t>(record.role_reason));
    out.put(static_cast<std::uint8_t>(record.role_from_handshake));
}

// One record of a state whose hosts are `hosts`, appended to `records`.
void add_record(const std::uint8_t* at, const std::vector<Address>& hosts,
                ConnectionRecords& records, const Decoder& decoder) {
    Connection c;
    c.first_seen = get<std::int64_t>(at);
    c.last_seen = get<std::int64_t>(at);
    for (std::uint64_t& count : c.packets) count = get<std::uint64_t>(at);
    for (std::uint64_t& bytes : c.payload_bytes) bytes = get<std::uint64_t>(at);
    c.close_time = get<std::int64_t>(at);
    c.syn_sequence = get<std::uint32_t>(at);
    c.syn_retransmissions = get<std::uint16_t>(at);
    const auto protocol = get<std::uint8_t>(at);
    const auto end_reason = get<std::uint8_t>(at);
    if (protocol > static_cast<std::uint8_t>(Protocol::udp) ||
        end_reason > static_cast<std::uint8_t>(EndReason::capture_end)) {
        decoder.damaged("a connection's protocol or end");
    }
    c.protocol = static_cast<Protocol>(protocol);
    c.end_reason = static_cast<EndReason>(end_reason);
    const auto side = [&] {
        const auto read = get<std::int8_t>(at);
        if (read < no_side || read > 1) decoder.damaged("a connection's side");
        return read;
    };
    c.syn_side = side();
    c.syn_ack_side = side();
    c.first_fin_side = side();
    c.rst_side = side();
    c.syn_ttl = get<std::uint8_t>(at);
    c.syn_option_layout = get<std::uint8_t>(at);
    const auto flags = get<std::uint8_t>(at);
    c.fin_from_0 = (flags & 1) != 0;
    c.fin_from_1 = (flags & 2) != 0;
    c.stale_ack = (flags & 4) != 0;
    c.time_wait_collision = (flags & 8) != 0;
    for (int side = 0; side < 2; ++side) {
        const auto host = get<std::uint32_t>(at);
        if (host >= hosts.size()) decoder.damaged("a connection's host");
        c.endpoint[side].address = hosts[host];
    }
    for (int side = 0; side < 2; ++side) c.endpoint[side].port = get<std::uint16_t>(at);
    const auto client_side = get<std::uint8_t>(at);
    const auto role_reason = get<std::uint8_t>(at);
    const auto from_handshake = get<std::uint8_t>(at);
    if (client_side > 1 || role_reason >= role_reason_count || from_handshake > 1) {
        decoder.damaged("a connection's role");
    }
    ConnectionRecord& record = records.add(c);
    record.client_side = client_side;
    record.role_reason = static_cast<RoleReason>(role_reason);
    record.role_from_handshake = from_handshake == 1;
}

// The summary of one state, read from its JSON line, merged into `merged`.
void merge_summary(const json& summary, SavedState& merged, const Decoder& decoder) {
    CaptureSummary& capture = merged.capture;
    const bool first_state = capture.files.empty() && capture.packets == 0;
    for (const json& file : summary.at("files")) {
        CaptureSummary::File entry;
        entry.path = file.at("path");
        entry.link_type = file.at("link_type");
        entry.packets = file.at("packets");
        entry.sections = file.at("sections");
        entry.compression = file.at("compression");
        entry.stopped = file.at("stopped");
        entry.bytes_unread = file.at("bytes_unread");
        capture.files.push_back(std::move(entry));
    }
    const std::uint64_t packets = summary.at("packets");
    if (packets > 0) {
        const Micros first = summary.at("first");
        const Micros last = summary.at("last");
        capture.first = capture.packets == 0 ? first : std::min(capture.first, first);
        capture.last = capture.packets == 0 ? last : std::max(capture.last, last);
    }
    capture.packets += packets;
    capture.decoded += summary.at("decoded").get<std::uint64_t>();
    const json& skipped = summary.at("skipped");
    if (skipped.size() != capture.skipped.size()) decoder.damaged("the skipped packets");
    for (std::size_t i = 0; i < capture.skipped.size(); ++i) {
        capture.skipped[i] += skipped[i].get<std::uint64_t>();
    }
    for (const json& tunnel : summary.at("tunnels")) {
        TunnelTally tally;
        const int kind = tunnel.at("kind");
        if (kind < 0 || kind >= static_cast<int>(tunnel_kind_count)) decoder.damaged("a tunnel");
        tally.kind = static_cast<TunnelKind>(kind);
        tally.has_id = tunnel.at("has_id");
        tally.id = tunnel.at("id");
        tally.outer_source = address_of_text(tunnel.at("outer_source"), decoder);
        tally.outer_destination = address_of_text(tunnel.at("outer_destination"), decoder);
        tally.packets = tunnel.at("packets");
        tally.inner_connections = tunnel.at("inner_connections");
        tally.first_seen = tunnel.at("first_seen");
        const auto found = std::find_if(
            capture.tunnels.begin(), capture.tunnels.end(),
            [&](const TunnelTally& t) { return CaptureSummary::same_tunnel(t, tally); });
        if (found == capture.tunnels.end()) {
            capture.tunnels.push_back(tally);
        } else {
            found->packets += tally.packets;
            found->inner_connections += tally.inner_connections;
            found->first_seen = std::min(found->first_seen, tally.first_seen);
        }
    }
    // In order of first appearance, as one run over all the captures counts them.
    std::stable_sort(
        capture.tunnels.begin(), capture.tunnels.end(),
        [](const TunnelTally& a, const TunnelTally& b) { return a.first_seen < b.first_seen; });
    capture.duplicates += summary.at("duplicates").get<std::uint64_t>();
    capture.backward_steps += summary.at("backward_steps").get<std::uint64_t>();
    capture.largest_backward_step =
        std::max(capture.largest_backward_step, summary.at("largest_backward_step").get<Micros>());
    const std::size_t max_connections = summary.at("max_connections");
    capture.max_connections =
        first_state ? max_connections : std::max(capture.max_connections, max_connections);
    capture.evicted_half_open += summary.at("evicted_half_open").get<std::uint64_t>();
    capture.evicted_other += summary.at("evicted_other").get<std::uint64_t>();
    capture.filtered = capture.filtered || summary.at("filtered").get<bool>();
    for (const json& warning : summary.at("input_warnings")) {
        merged.input_warnings.push_back(warning.get<std::string>());
    }
    for (const json& warning : summary.at("reader_warnings")) {
        merged.reader_warnings.push_back(warning.get<std::string>());
    }
}

// The version a state's first line names: 1 or 2.
int version_of(const std::string& line, const Decoder& decoder) {
    for (const int version : {plain_version, segmented_version}) {
        if (line == fmt::format("{}{}", magic_prefix, version)) return version;
    }
    decoder.damaged("another version");
}

// The number `path` has among `capture`'s segments, added if new: as CaptureSummary::segment_of
// numbers them, past max_segments sharing the last number.
std::uint8_t merged_segment(CaptureSummary& capture, const SegmentPath& path) {
    const auto found = std::find(capture.segments.begin(), capture.segments.end(), path);
    if (found != capture.segments.end()) {
        return static_cast<std::uint8_t>(found - capture.segments.begin() + 1);
    }
    if (capture.segments.size() == CaptureSummary::max_segments) {
        return static_cast<std::uint8_t>(CaptureSummary::max_segments);
    }
    capture.segments.push_back(path);
    return static_cast<std::uint8_t>(capture.segments.size());
}

// A state's segments (version 2) merged into `capture`'s: what each of its segment numbers
// (Address::segment) is there, by number; 0, no segment, stays 0.
std::vector<std::uint8_t> merge_segments(const json& summary, CaptureSummary& capture,
                                         const Decoder& decoder) {
    std::vector<std::uint8_t> numbers = {0};
    if (!summary.contains("segments")) return numbers;
    const json& segments = summary.at("segments");
    if (segments.size() > CaptureSummary::max_segments) decoder.damaged("its segments");
    for (const json& hops : segments) {
        SegmentPath path;
        if (hops.size() > SegmentPath::capacity) decoder.damaged("a segment");
        for (const json& hop : hops) {
            const int kind = hop.at(0);
            if (kind < 0 || kind >= static_cast<int>(tunnel_kind_count)) {
                decoder.damaged("a segment");
            }
            path.hops[path.count++] = {static_cast<TunnelKind>(kind), hop.at(1).get<bool>(),
                                       hop.at(2).get<std::uint32_t>()};
        }
        numbers.push_back(merged_segment(capture, path));
    }
    capture.packets_in_shared_segment +=
        summary.at("packets_in_shared_segment").get<std::uint64_t>();
    return numbers;
}

}  // namespace

bool looks_like_state(std::uint32_t magic) noexcept {
    std::uint32_t expected = 0;
    std::memcpy(&expected, magic_prefix.data(), sizeof expected);  // as the magic was read
    return magic == expected;
}

void write_state(std::FILE* out, const ConnectionRecords& records, const SavedState& state) {
    const json summary = summary_json(records, state);
    const std::string header =
        fmt::format("{}{}\n{}\n", magic_prefix, summary.at("version").get<int>(), summary.dump());
    std::fwrite(header.data(), 1, header.size(), out);
    Encoder encoder(out);
    for (std::uint32_t host = 0; host < records.host_count(); ++host) {
        const Address& address = records.address(host);
        encoder.put(static_cast<std::uint8_t>(address.family));
        encoder.put(address.segment);
        encoder.put_bytes(address.bytes.data(), address.bytes.size());
        encoder.end_item();
    }
    for (const ConnectionRecord& record : records) {
        put_record(encoder, records, record);
        encoder.end_item();
    }
}

void read_state(const std::string& path, ByteStream& stream, ConnectionRecords& records,
                SavedState& merged) {
    Decoder decoder(path, stream);
    const int version = version_of(decoder.line(), decoder);
    const bool first_state = merged.capture.files.empty() && merged.capture.packets == 0;
    const bool split = version == segmented_version;
    if (!first_state && split != merged.capture.split_segments) {
        throw UserError(fmt::format(
            "{} was saved {} --split-segments and the states before it {}: their hosts are told "
            "apart differently, so they cannot be merged",
            path, split ? "with" : "without", split ? "without" : "with"));
    }
    merged.capture.split_segments = split;
    std::uint64_t host_count = 0;
    std::uint64_t record_count = 0;
    std::vector<std::uint8_t> segment_numbers;
    try {
        const json summary = json::parse(decoder.line());
        if (summary.at("version") != version) decoder.damaged("another version");
        host_count = summary.at("hosts").get<std::uint64_t>();
        record_count = summary.at("records").get<std::uint64_t>();
        merge_summary(summary, merged, decoder);
        segment_numbers = merge_segments(summary, merged.capture, decoder);
    } catch (const json::exception& error) {
        decoder.damaged(error.what());
    }
    std::vector<Address> hosts;
    for (std::uint64_t i = 0; i < host_count; ++i) {
        Address address = address_from(decoder.take(host_size), decoder);
        if (address.segment >= segment_numbers.size()) decoder.damaged("a host's segment");
        address.segment = segment_numbers[address.segment];
        hosts.push_back(address);
    }
    for (std::uint64_t i = 0; i < record_count; ++i) {
        add_record(decoder.take(record_size), hosts, records, decoder);
    }
    if (!decoder.at_end()) decoder.damaged("bytes after its last connection");
}

}  // namespace ephemera
