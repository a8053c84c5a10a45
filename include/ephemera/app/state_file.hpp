// A saved analysis state (`analyze --save-state FILE`): what reading a capture left for the
// report, before the report was made of it, so that states saved from separate captures (a
// fleet's hourly captures, each read where it was taken) give, read together, the report one run
// over all of the captures would have given.
//
// For now the state is the capture's connection records (as the tracker finished them, roles
// from handshakes only: the others are decided from all records together once merged), the hosts
// they name, and the capture summary with its warnings. About 86 bytes a connection, plus a
// JSON line of summary; zstd, gzip or lz4 shrink it several times, and it is read compressed.
//
// Format, version 1: the line "ephemera-state 1", one line of JSON (the summary, the counts
// below), then binary little-endian: every host (family, segment, 16 address bytes), then every
// record in a fixed layout of 86 bytes (state_file.cpp). Version 2, for a capture read with
// --split-segments, is the same with "ephemera-state 2" and the segments (VLANs and tunnels, by
// the number hosts name them with) in the summary; merged, the same segment in two states is one.
// A file of another version is refused, as are states saved with --split-segments and without
// read together.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ephemera/analysis/roles.hpp"
#include "ephemera/capture/byte_stream.hpp"
#include "ephemera/track/capture_summary.hpp"

namespace ephemera {

struct SavedState {
    CaptureSummary capture;  // with its files
    // The warnings about the inputs (link types not decoded, a filter that matched nothing) and
    // from reading them (an input cut short, a damaged row): the ones the capture summary implies
    // are derived again from it (pipeline_warnings) once merged.
    std::vector<std::string> input_warnings;
    std::vector<std::string> reader_warnings;
};

// Whether an input's first four bytes are a saved state's.
bool looks_like_state(std::uint32_t magic) noexcept;

// Writes `records` and `state` to `out`.
void write_state(std::FILE* out, const ConnectionRecords& records, const SavedState& state);

// Reads a state written by write_state from `stream` (opened as `path`): its records are appended
// to `records` (hosts numbered there), its summary merged into `merged`. Throws UserError naming
// `path` if it is not a state of this version or is damaged.
void read_state(const std::string& path, ByteStream& stream, ConnectionRecords& records,
                SavedState& merged);

}  // namespace ephemera
