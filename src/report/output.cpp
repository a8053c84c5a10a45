#include "ephemera/report/output.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ephemera/core/errors.hpp"

namespace ephemera {

namespace {

// A device or a pipe (-o /dev/null, -o /dev/stderr, a named pipe): written in place. Renaming a
// file over it would replace the device itself.
bool is_special_file(const std::string& path) {
    struct stat status {};
    return stat(path.c_str(), &status) == 0 && !S_ISREG(status.st_mode) && !S_ISDIR(status.st_mode);
}

void write_in_place(const std::string& path, const std::function<void(std::FILE*)>& write) {
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
        throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    write(file);
    const bool write_failed = std::ferror(file) != 0;
    if (std::fclose(file) != 0 || write_failed) {
        throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write) {
    if (is_special_file(path)) {
        write_in_place(path, write);
        return;
    }
    std::string temporary = path + ".XXXXXX";
    const int descriptor = mkstemp(temporary.data());
    if (descriptor < 0) {
        throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    // mkstemp creates the file 0600; a report gets the mode any new file would.
    const mode_t mask = umask(0);
    umask(mask);
    fchmod(descriptor, 0666 & ~mask);
    std::FILE* file = fdopen(descriptor, "w");
    if (file == nullptr) {
        close(descriptor);
        unlink(temporary.c_str());
        throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    write(file);
    const bool write_failed = std::ferror(file) != 0;
    const bool close_failed = std::fclose(file) != 0;
    if (write_failed || close_failed || std::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        unlink(temporary.c_str());
        throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(error)));
    }
}

void write_output(const std::string& path, const std::string& content) {
    if (path.empty() || path == "-") {
        // A script must not take the part that was written for the whole report.
        std::fwrite(content.data(), 1, content.size(), stdout);
        if (const int error = standard_output_error(); error != 0) fail_on_standard_output(error);
        return;
    }
    write_file_atomically(
        path, [&](std::FILE* file) { std::fwrite(content.data(), 1, content.size(), file); });
}

void write_output(const std::string& path, const std::function<void(std::FILE*)>& write) {
    if (path.empty() || path == "-") {
        write(stdout);
        if (const int error = standard_output_error(); error != 0) fail_on_standard_output(error);
        return;
    }
    write_file_atomically(path, write);
}

int standard_output_error() noexcept {
    // A failed write leaves the stream's error flag set, even once nothing is left to flush.
    if (std::fflush(stdout) == 0 && std::ferror(stdout) == 0) return 0;
    return errno != 0 ? errno : EIO;
}

void fail_on_standard_output(int error) {
    throw UserError(fmt::format("cannot write standard output: {}", std::strerror(error)));
}

}  // namespace ephemera
