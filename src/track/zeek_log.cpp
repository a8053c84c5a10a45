// Zeek conn.log reader. The log's rows are finished connections: each becomes a Connection with
// the evidence its fields carry (the handshake, FINs and RSTs from `history`, packets and bytes
// per side, start and duration), and goes to the sink as the tracker's connections do.
#include "ephemera/track/zeek_log.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

// Lines of a stream, read in pieces.
class LineReader {
  public:
    explicit LineReader(ByteStream& stream) : stream_(stream) {}

    // The next line without its newline; false at the end, or at a line longer than max_line
    // (error() says so).
    bool next(std::string& line) {
        for (;;) {
            const std::size_t newline = buffer_.find('\n', start_);
            if (newline != std::string::npos) {
                line.assign(buffer_, start_, newline - start_);
                start_ = newline + 1;
                ++number_;
                return true;
            }
            if (buffer_.size() - start_ > max_line) {
                error_ = fmt::format("line {} is longer than {} MiB", number_ + 1, max_line >> 20);
                return false;
            }
            if (!fill()) {
                if (start_ >= buffer_.size()) return false;
                line.assign(buffer_, start_);
                start_ = buffer_.size();
                ++number_;
                return true;
            }
        }
    }
    std::uint64_t number() const noexcept { return number_; }
    const std::string& error() const noexcept { return error_; }

  private:
    // A conn.log row is a few hundred bytes: past this, the input is not one, and reading on
    // would hold all of it.
    static constexpr std::size_t max_line = std::size_t{1} << 20;

    bool fill() {
        buffer_.erase(0, start_);
        start_ = 0;
        std::array<std::uint8_t, 64 * 1024> piece{};
        const std::ptrdiff_t got = stream_.read(piece.data(), piece.size());
        if (got < 0) error_ = stream_.error();
        if (got <= 0) return false;
        buffer_.append(reinterpret_cast<const char*>(piece.data()), static_cast<std::size_t>(got));
        return true;
    }

    ByteStream& stream_;
    std::string buffer_;
    std::size_t start_ = 0;
    std::uint64_t number_ = 0;
    std::string error_;
};

// One row's fields, as text (TSV) or taken from a JSON object.
struct Row {
    std::string ts, orig_h, orig_p, resp_h, resp_p, proto, duration, orig_bytes, resp_bytes,
        history, orig_pkts, resp_pkts;
    // ephemera's own extension fields, where it wrote the log.
    std::string syn_retransmissions;
    std::string state;
};

// Text from the input, for a message: bytes other than printable ASCII as \xNN, at most `limit`
// of them.
std::string printable(std::string_view text, std::size_t limit = 40) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f) {
            out += static_cast<char>(byte);
        } else {
            out += fmt::format("\\x{:02x}", byte);
        }
    }
    if (text.size() > limit) out += "...";
    return out;
}

// Zeek's unset value ('-' by default) and empty value read as nothing.
std::optional<std::uint64_t> parse_count(const std::string& text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<double> parse_seconds(const std::string& text) {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

// "2020-11-30T12:34:56.123456Z" (LogAscii::json_timestamps = JSON::TS_ISO8601), or epoch seconds.
std::optional<Micros> parse_time(const std::string& text) {
    if (const std::optional<double> seconds = parse_seconds(text)) {
        return static_cast<Micros>(std::llround(*seconds * 1e6));
    }
    std::tm parts{};
    int consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                    &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) != 6) {
        return std::nullopt;
    }
    parts.tm_year -= 1900;
    parts.tm_mon -= 1;
    Micros micros = 0;
    std::size_t at = static_cast<std::size_t>(consumed);
    if (at < text.size() && text[at] == '.') {
        Micros scale = 100'000;
        for (++at; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at) {
            micros += (text[at] - '0') * scale;
            scale /= 10;
        }
    }
    if (at != text.size() && text.substr(at) != "Z") return std::nullopt;
    return static_cast<Micros>(timegm(&parts)) * 1'000'000 + micros;
}

// The handshake, FINs and RSTs a row's history shows: upper case is the originator's (side 0),
// lower case the responder's, each letter the first such event (S a pure SYN, H a SYN-ACK, F a
// FIN, R a RST).
void read_history(const std::string& history, Connection& connection) {
    for (const char letter : history) {
        const std::int8_t side = std::isupper(static_cast<unsigned char>(letter)) ? 0 : 1;
        switch (std::tolower(static_cast<unsigned char>(letter))) {
            case 's':
                if (connection.syn_side == no_side) connection.syn_side = side;
                break;
            case 'h':
                if (connection.syn_ack_side == no_side) connection.syn_ack_side = side;
                break;
            case 'f':
                connection.set_fin(side);
                if (connection.first_fin_side == no_side) connection.first_fin_side = side;
                break;
            case 'r':
                if (connection.rst_side == no_side) connection.rst_side = side;
                break;
            default:
                break;
        }
    }
}

// The connection a row describes; nullopt for a row without ports (ICMP, ...). Throws
// std::invalid_argument naming the field that cannot be read.
std::optional<Connection> connection_of(const Row& row) {
    Protocol protocol;
    if (row.proto == "tcp") {
        protocol = Protocol::tcp;
    } else if (row.proto == "udp") {
        protocol = Protocol::udp;
    } else if (!row.proto.empty()) {
        return std::nullopt;
    } else {
        throw std::invalid_argument("no proto");
    }
    Connection connection;
    connection.protocol = protocol;
    const std::optional<Micros> start = parse_time(row.ts);
    if (!start)
        throw std::invalid_argument(fmt::format("ts '{}' is not a time", printable(row.ts)));
    const std::optional<double> duration = parse_seconds(row.duration);
    connection.first_seen = *start;
    connection.last_seen = *start + static_cast<Micros>(std::llround(duration.value_or(0) * 1e6));
    const std::pair<const std::string*, const std::string*> ends[2] = {{&row.orig_h, &row.orig_p},
                                                                       {&row.resp_h, &row.resp_p}};
    for (std::size_t side = 0; side < 2; ++side) {
        const auto port = parse_count(*ends[side].second);
        if (!parse_address(*ends[side].first, connection.endpoint[side].address)) {
            throw std::invalid_argument(
                fmt::format("'{}' is not an address", printable(*ends[side].first)));
        }
        if (!port || *port > 65535) {
            throw std::invalid_argument(
                fmt::format("'{}' is not a port", printable(*ends[side].second)));
        }
        connection.endpoint[side].port = static_cast<std::uint16_t>(*port);
    }
    connection.packets = {parse_count(row.orig_pkts).value_or(0),
                          parse_count(row.resp_pkts).value_or(0)};
    connection.payload_bytes = {parse_count(row.orig_bytes).value_or(0),
                                parse_count(row.resp_bytes).value_or(0)};
    connection.syn_retransmissions = static_cast<std::uint16_t>(
        std::min<std::uint64_t>(parse_count(row.syn_retransmissions).value_or(0), 0xffff));
    if (protocol == Protocol::tcp) {
        read_history(row.history, connection);
        if (connection.tcp_closed()) connection.close_time = connection.last_seen;
        connection.end_reason =
            connection.tcp_closed() ? EndReason::closed : EndReason::capture_end;
    } else {
        // A log does not say whether a flow was still going when it was written, unless ephemera
        // wrote it (its state "open": still active at the end of the capture).
        connection.end_reason = row.state == "open" ? EndReason::capture_end : EndReason::idle;
    }
    return connection;
}

// The ASCII format's header: separators, what unset and empty fields look like, the columns.
struct TsvHeader {
    char separator = '\t';
    std::string unset = "-";
    std::string empty = "(empty)";
    std::map<std::string, std::size_t> columns;
};

const std::pair<const char*, const char*> field_renames[] = {{"src", "id.orig_h"},
                                                             {"src_port", "id.orig_p"},
                                                             {"dst", "id.resp_h"},
                                                             {"dst_port", "id.resp_p"}};

// "\x09" -> a tab, as Zeek writes the separator.
char unescape_separator(const std::string& text) {
    if (text.size() == 4 && text[0] == '\\' && text[1] == 'x') {
        return static_cast<char>(std::stoi(text.substr(2), nullptr, 16));
    }
    return text.empty() ? '\t' : text[0];
}

std::vector<std::string> split(const std::string& line, char separator) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = line.find(separator, start);
        fields.push_back(line.substr(start, end - start));
        if (end == std::string::npos) return fields;
        start = end + 1;
    }
}

void read_header_line(const std::string& line, TsvHeader& header) {
    if (line.rfind("#separator ", 0) == 0) {
        header.separator = unescape_separator(line.substr(11));
        return;
    }
    const std::vector<std::string> parts = split(line, header.separator);
    if (parts.size() < 2) return;
    if (parts[0] == "#unset_field") header.unset = parts[1];
    if (parts[0] == "#empty_field") header.empty = parts[1];
    if (parts[0] == "#fields") {
        header.columns.clear();
        for (std::size_t i = 1; i < parts.size(); ++i) header.columns[parts[i]] = i - 1;
        // Log::default_field_name_map's usual renames of the 4-tuple, where the log has them.
        for (const auto& [renamed, name] : field_renames) {
            const auto column = header.columns.find(renamed);
            if (column != header.columns.end() && !header.columns.contains(name)) {
                header.columns[name] = column->second;
            }
        }
    }
}

Row tsv_row(const std::vector<std::string>& fields, const TsvHeader& header) {
    auto field = [&](const char* name) -> std::string {
        const auto column = header.columns.find(name);
        if (column == header.columns.end() || column->second >= fields.size()) return "";
        const std::string& value = fields[column->second];
        return value == header.unset || value == header.empty ? std::string() : value;
    };
    return {field("ts"),
            field("id.orig_h"),
            field("id.orig_p"),
            field("id.resp_h"),
            field("id.resp_p"),
            field("proto"),
            field("duration"),
            field("orig_bytes"),
            field("resp_bytes"),
            field("history"),
            field("orig_pkts"),
            field("resp_pkts"),
            field("ephemera_syn_retransmissions"),
            field("ephemera_state")};
}

Row json_row(const nlohmann::json& object) {
    auto field = [&](const char* name) -> std::string {
        auto value = object.find(name);
        for (const auto& [renamed, original] : field_renames) {
            if (value == object.end() && std::string_view(original) == name) {
                value = object.find(renamed);
            }
        }
        if (value == object.end() || value->is_null()) return "";
        if (value->is_string()) return value->get<std::string>();
        if (value->is_number_float()) return fmt::format("{:.6f}", value->get<double>());
        return value->dump();
    };
    return {field("ts"),
            field("id.orig_h"),
            field("id.orig_p"),
            field("id.resp_h"),
            field("id.resp_p"),
            field("proto"),
            field("duration"),
            field("orig_bytes"),
            field("resp_bytes"),
            field("history"),
            field("orig_pkts"),
            field("resp_pkts"),
            field("ephemera_syn_retransmissions"),
            field("ephemera_state")};
}

}  // namespace

bool looks_like_zeek_log(std::uint32_t magic) noexcept {
    // No capture format starts with either: pcap's magic is 0xa1b2c3d4 or 0xa1b23c4d in either
    // byte order, pcapng's 0x0a0d0d0a.
    const auto first = static_cast<char>(magic & 0xff);
    return first == '#' || first == '{';
}

std::string_view zeek_format_name(ZeekLogFormat format) noexcept {
    return format == ZeekLogFormat::tsv ? "zeek-conn-log" : "zeek-conn-log-json";
}

ZeekLogReading read_zeek_conn_log(const std::string& path, ByteStream& stream,
                                  ConnectionSink& sink) {
    const std::string name = path == "-" ? "<stdin>" : path;
    ZeekLogReading reading;
    LineReader lines(stream);
    TsvHeader header;
    bool format_known = false;
    std::string line;
    while (lines.next(line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (!format_known) {
            reading.format = line[0] == '{' ? ZeekLogFormat::json : ZeekLogFormat::tsv;
            format_known = true;
        }
        Row row;
        try {
            if (reading.format == ZeekLogFormat::tsv) {
                if (line[0] == '#') {
                    read_header_line(line, header);
                    continue;
                }
                if (!header.columns.contains("id.orig_h") ||
                    !header.columns.contains("id.resp_p")) {
                    throw UserError(fmt::format(
                        "{}:{}: not a Zeek conn.log: no #fields line naming id.orig_h and "
                        "id.resp_p before the first row",
                        name, lines.number()));
                }
                row = tsv_row(split(line, header.separator), header);
            } else {
                const nlohmann::json object = nlohmann::json::parse(line);
                if (!object.is_object()) throw std::invalid_argument("not a JSON object");
                row = json_row(object);
            }
            const std::optional<Connection> connection = connection_of(row);
            if (!connection) {
                ++reading.other_protocols;
                continue;
            }
            sink.on_connection(*connection);
            ++reading.rows;
            reading.packets += connection->total_packets();
            if (reading.rows == 1 || connection->first_seen < reading.first) {
                reading.first = connection->first_seen;
            }
            reading.last = std::max(reading.last, connection->last_seen);
        } catch (const UserError&) {
            throw;
        } catch (const std::exception& failure) {
            const std::string why =
                fmt::format("{}:{}: {}", name, lines.number(), printable(failure.what(), 200));
            if (reading.rows == 0) throw UserError("cannot read Zeek log " + why);
            if (reading.damaged_rows++ == 0) reading.first_damage = why;
        }
    }
    if (!lines.error().empty()) {
        const std::string why = fmt::format("{}: {}", name, lines.error());
        if (reading.rows == 0) throw UserError("cannot read Zeek log " + why);
        if (reading.damaged_rows++ == 0) reading.first_damage = why;
    }
    return reading;
}

}  // namespace ephemera
