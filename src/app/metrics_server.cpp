#include "ephemera/app/metrics_server.hpp"

#include <httplib.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
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

}  // namespace

struct MetricsServer::State {
    httplib::Server server;
    std::mutex mutex;
    std::string page = "# no interval has completed yet\n";
    std::string address;
    std::thread thread;
};

MetricsServer::MetricsServer(const std::string& listen) : state_(std::make_unique<State>()) {
    const ListenAddress where = parse_listen(listen);
    State& state = *state_;
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

MetricsServer::~MetricsServer() {
    // stop() only stops a server that is already listening: give the thread a moment to start.
    for (int waited_ms = 0; waited_ms < 2000 && !state_->server.is_running(); ++waited_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    state_->server.stop();
    if (state_->thread.joinable()) state_->thread.join();
}

void MetricsServer::publish(std::string page) {
    std::lock_guard lock(state_->mutex);
    state_->page = std::move(page);
}

const std::string& MetricsServer::address() const noexcept {
    return state_->address;
}

}  // namespace ephemera
