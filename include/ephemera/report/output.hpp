// Output files are written whole or not at all: into a temporary file beside the target, renamed
// over it only once complete, so a failed run never leaves half a report behind.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace ephemera {

// Calls write(file) on a temporary file, then renames it to `path`; a device or a pipe at `path`
// (/dev/null, a named pipe) is written in place instead. Throws UserError when the file cannot be
// created or written.
void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write);

// Writes to stdout, or atomically to `path` when it is not empty. Throws UserError when the
// content cannot be written whole.
void write_output(const std::string& path, const std::string& content);
// The same with the content written by write(file), piece by piece.
void write_output(const std::string& path, const std::function<void(std::FILE*)>& write);

// Flushes stdout: errno of the first write to it that failed so far, 0 when none did. A report
// that did not reach its reader (a full disk, a file size limit, a reader gone) is a failed run.
int standard_output_error() noexcept;
// The UserError for that error.
[[noreturn]] void fail_on_standard_output(int error);

}  // namespace ephemera
