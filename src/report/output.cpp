#include "ephemera/report/output.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ephemera/core/errors.hpp"

namespace ephemera {

void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write) {
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
        // A report that did not reach its reader (a full disk, a file size limit) is a failed
        // run: a script must not take the part that was written for the whole.
        const bool written =
            std::fwrite(content.data(), 1, content.size(), stdout) == content.size();
        if (std::fflush(stdout) != 0 || !written) {
            throw UserError(fmt::format("cannot write standard output: {}", std::strerror(errno)));
        }
        return;
    }
    write_file_atomically(
        path, [&](std::FILE* file) { std::fwrite(content.data(), 1, content.size(), file); });
}

}  // namespace ephemera
