// The metrics server's half that uses cpp-httplib, built as a module of its own
// (libephemera-metrics.so) that `live --metrics-listen` loads when it starts serving: httplib
// brings OpenSSL, brotli and zlib with it, about 4 MiB resident and 4 ms of start-up that
// `analyze` and a live run without metrics would otherwise pay. C functions are its interface
// (metrics_module.hpp), so no exception crosses into the program.
#include "ephemera/app/metrics_module.hpp"

#include <httplib.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

struct ListenAddress {
    std::string host = "127.0.0.1";
    int port = 0;
};

ListenAddress parse_listen(const std::string& text) {
    ListenAddress result;
    std::string port = text;
    const std::size_t colon = text.rfind(':');
    if (colon != std::string::npos) {
        result.host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']') {
            result.host = result.host.substr(1, result.host.size() - 2);
        }
    }
    char* end = nullptr;
    const long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value < 1 || value > 65535 || result.host.empty()) {
        throw UserError(fmt::format(
            "bad --metrics-listen '{}': use [ADDR:]PORT, e.g. 9100 or 0.0.0.0:9100", text));
    }
    result.port = static_cast<int>(value);
    return result;
}

struct Server {
    httplib::Server server;
    std::mutex mutex;
    std::string page = "# no interval has completed yet\n";
    std::string address;
    std::thread thread;
};

// Binds at once and starts serving; throws UserError when the address is bad or taken.
void start(Server& state, const std::string& listen) {
    const ListenAddress where = parse_listen(listen);
    state.address = fmt::format("{}:{}", where.host, where.port);
    state.server.Get("/metrics", [&state](const httplib::Request&, httplib::Response& response) {
        std::string page;
        {
            std::lock_guard lock(state.mutex);
            page = state.page;
        }
        response.set_content(page, "text/plain; version=0.0.4; charset=utf-8");
    });
    state.server.Get("/", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("ephemera: metrics at /metrics\n", "text/plain");
    });
    errno = 0;
    if (!state.server.bind_to_port(where.host, where.port)) {
        const int error = errno;
        throw UserError(fmt::format("cannot serve metrics on {}: {}", state.address,
                                    error != 0 ? std::strerror(error) : "cannot bind"));
    }
    state.thread = std::thread([&state] { state.server.listen_after_bind(); });
}

void stop(Server& state) {
    // stop() only stops a server that is already listening: give the thread a moment to start.
    for (int waited_ms = 0; waited_ms < 2000 && !state.server.is_running(); ++waited_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    state.server.stop();
    if (state.thread.joinable()) state.thread.join();
}

}  // namespace
}  // namespace ephemera

extern "C" {

void* ephemera_metrics_start(const char* listen, char* error, std::size_t error_size) {
    auto server = std::make_unique<ephemera::Server>();
    try {
        ephemera::start(*server, listen);
    } catch (const std::exception& failure) {
        std::snprintf(error, error_size, "%s", failure.what());
        return nullptr;
    }
    return server.release();
}

void ephemera_metrics_publish(void* server, const char* page, std::size_t size) {
    auto& state = *static_cast<ephemera::Server*>(server);
    std::string copy(page, size);
    std::lock_guard lock(state.mutex);
    state.page = std::move(copy);
}

const char* ephemera_metrics_address(void* server) {
    return static_cast<ephemera::Server*>(server)->address.c_str();
}

void ephemera_metrics_stop(void* server) {
    std::unique_ptr<ephemera::Server> state(static_cast<ephemera::Server*>(server));
    ephemera::stop(*state);
}

}  // extern "C"
