// The metrics server's half that uses cpp-httplib, built as a module of its own
// (libephemera-metrics.so) that `live --metrics-listen` loads when it starts serving: httplib
// brings OpenSSL, brotli and zlib with it, about 4 MiB resident and 4 ms of start-up that
// `analyze` and a live run without metrics would otherwise pay. C functions are its interface
// (metrics_module.hpp), so no exception crosses into the program.
#include "ephemera/app/metrics_module.hpp"

#include <httplib.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

// httplib's own pool has a fixed 8 threads, and each connection holds one until the client closes
// it or its keep-alive timeout (5 s) passes: 200 idle connections (a slowloris, a load balancer's
// stale pool) kept every scrape waiting behind them for tens of seconds. This pool grows a thread
// for a connection whenever none is free, up to a cap (beyond it, connections wait their turn), and
// a thread that has had nothing to do for a while ends.
class ConnectionThreads : public httplib::TaskQueue {
  public:
    explicit ConnectionThreads(std::size_t max_threads) : max_threads_(max_threads) {}
    ~ConnectionThreads() override = default;

    void enqueue(std::function<void()> job) override {
        std::lock_guard lock(mutex_);
        join_finished();
        jobs_.push_back(std::move(job));
        if (idle_ == 0 && running_ < max_threads_) {
            ++running_;
            threads_.emplace_back([this] { work(); });
        } else {
            ready_.notify_one();
        }
    }

    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_all();
        for (std::thread& thread : threads_) thread.join();
    }

  private:
    void work() {
        std::unique_lock lock(mutex_);
        for (;;) {
            ++idle_;
            const bool woken = ready_.wait_for(lock, idle_lifetime,
                                               [this] { return !jobs_.empty() || stopping_; });
            --idle_;
            if (jobs_.empty()) {
                if (stopping_ || !woken) break;  // asked to stop, or idle too long
                continue;
            }
            std::function<void()> job = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            job();
            lock.lock();
        }
        --running_;
        finished_.push_back(std::this_thread::get_id());  // joined by the next enqueue
    }

    // Joins the threads that have ended (each has released the lock for the last time), so their
    // stacks do not pile up over a long run. Called with the lock held.
    void join_finished() {
        for (const std::thread::id id : finished_) {
            const auto thread =
                std::find_if(threads_.begin(), threads_.end(),
                             [id](const std::thread& t) { return t.get_id() == id; });
            if (thread == threads_.end()) continue;
            thread->join();
            threads_.erase(thread);
        }
        finished_.clear();
    }

    static constexpr std::chrono::seconds idle_lifetime{30};
    const std::size_t max_threads_;
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    std::vector<std::thread::id> finished_;
    std::size_t running_ = 0;
    std::size_t idle_ = 0;
    bool stopping_ = false;
};

// Connections served at once; more wait. A scrape is one short request, so a connection that has
// sent nothing for a second, or takes longer than two to send or receive, is closed.
constexpr std::size_t max_connection_threads = 512;
constexpr time_t idle_connection_timeout_s = 1;
constexpr time_t transfer_timeout_s = 2;

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
    state.server.new_task_queue = [] { return new ConnectionThreads(max_connection_threads); };
    state.server.set_keep_alive_timeout(idle_connection_timeout_s);
    state.server.set_read_timeout(transfer_timeout_s);
    state.server.set_write_timeout(transfer_timeout_s);
    state.server.set_keep_alive_max_count(100);
    state.server.set_payload_max_length(64 * 1024);  // a scrape sends no body
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
