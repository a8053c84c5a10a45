// Zeek conn.log files as input: each TCP or UDP row is a finished connection, handed to the same
// sink the tracker feeds, so every analysis runs on logs as on captures. A log is already
// tracked traffic, which is why it is read here, in the tracking stage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ephemera/capture/byte_stream.hpp"
#include "ephemera/core/types.hpp"
#include "ephemera/track/tracker.hpp"

namespace ephemera {

enum class ZeekLogFormat : std::uint8_t { tsv, json };

// Whether an input's first bytes (OpenedStream::magic) are a Zeek log's: "#" (the ASCII
// format's header) or "{" (JSON lines).
bool looks_like_zeek_log(std::uint32_t magic) noexcept;

struct ZeekLogReading {
    ZeekLogFormat format = ZeekLogFormat::tsv;
    std::uint64_t rows = 0;             // TCP and UDP rows handed to the sink
    std::uint64_t other_protocols = 0;  // ICMP and other rows: no ports
    std::uint64_t damaged_rows = 0;     // rows after valid ones that could not be read
    std::uint64_t packets = 0;          // orig_pkts + resp_pkts of the rows read
    Micros first = 0;                   // earliest start, latest end (0 when no row)
    Micros last = 0;
    std::string first_damage;  // "FILE:LINE: why", for the warning
};

// Reads the whole log from `stream`: the ASCII format (any field order and extra fields, its
// #separator, #unset_field and #empty_field as the header declares them) or JSON lines (ts as
// epoch seconds or ISO 8601). Throws UserError naming the file and line when the log cannot be
// read at all (no #fields with the 4-tuple, a first row that is not one); a damaged row after
// valid ones is counted and skipped.
ZeekLogReading read_zeek_conn_log(const std::string& path, ByteStream& stream,
                                  ConnectionSink& sink);

std::string_view zeek_format_name(ZeekLogFormat format) noexcept;

}  // namespace ephemera
