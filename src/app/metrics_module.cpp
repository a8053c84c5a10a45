// The metrics server's half that uses cpp-httplib, built as a module of its own
// (libephemera-metrics.so) that `live --metrics-listen` loads when it starts serving: httplib
// brings OpenSSL, brotli and zlib with it, memory and start-up time that `analyze` and a live
// run without metrics would otherwise pay (docs/performance.md). C functions are its interface
// (metrics_module.hpp), so no exception crosses into the program.
#include "ephemera/app/metrics_module.hpp"

#include <crypt.h>
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
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

// Prometheus's exporter-toolkit web configuration, the parts served here: TLS (a certificate and
// its key) and basic authentication (user names with bcrypt hashes). File names are relative to
// the configuration file, as the toolkit reads them.
struct WebConfig {
    std::string cert_file;
    std::string key_file;
    std::map<std::string, std::string> users;  // name -> bcrypt hash
};

WebConfig read_web_config(const std::string& path) {
    WebConfig config;
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::Exception& failure) {
        throw UserError(fmt::format("bad --metrics-web-config {}: {}", path, failure.what()));
    }
    const std::string directory = std::filesystem::path(path).parent_path().string();
    const auto relative = [&](const std::string& file) {
        return file.empty() || file[0] == '/' || directory.empty() ? file : directory + "/" + file;
    };
    if (const YAML::Node tls = root["tls_server_config"]) {
        config.cert_file = relative(tls["cert_file"].as<std::string>(""));
        config.key_file = relative(tls["key_file"].as<std::string>(""));
        if (config.cert_file.empty() || config.key_file.empty()) {
            throw UserError(fmt::format(
                "bad --metrics-web-config {}: tls_server_config needs cert_file and key_file",
                path));
        }
    }
    if (const YAML::Node users = root["basic_auth_users"]) {
        for (const auto& user : users) {
            config.users[user.first.as<std::string>()] = user.second.as<std::string>();
        }
    }
    return config;
}

// Whether an Authorization header names a user of `users` with the right password: the base64
// user:password checked against the user's bcrypt hash by crypt(3).
bool authorized(const httplib::Request& request, const std::map<std::string, std::string>& users) {
    const std::string header = request.get_header_value("Authorization");
    if (header.rfind("Basic ", 0) != 0) return false;
    const std::string encoded = header.substr(6);
    if (encoded.empty() || encoded.size() > 4096 || encoded.size() % 4 != 0) return false;
    std::string decoded(encoded.size() / 4 * 3, '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                       reinterpret_cast<const unsigned char*>(encoded.data()),
                                       static_cast<int>(encoded.size()));
    if (length < 0) return false;
    decoded.resize(static_cast<std::size_t>(length));
    // EVP_DecodeBlock counts the padding's zero bytes in: drop them.
    for (std::size_t pad = encoded.size(); pad > 0 && encoded[pad - 1] == '='; --pad) {
        decoded.pop_back();
    }
    const std::size_t colon = decoded.find(':');
    if (colon == std::string::npos) return false;
    const auto user = users.find(decoded.substr(0, colon));
    if (user == users.end()) return false;
    // crypt_rn, not crypt_r: the sanitizers intercept crypt_r, and in a module loaded after they
    // started their interceptor has no libcrypt function to call.
    crypt_data work{};
    const char* hashed =
        crypt_rn(decoded.substr(colon + 1).c_str(), user->second.c_str(), &work, sizeof work);
    return hashed != nullptr &&
           CRYPTO_memcmp(hashed, user->second.c_str(), user->second.size() + 1) == 0;
}

struct Server {
    std::unique_ptr<httplib::Server> server;  // an SSLServer with TLS
    std::mutex mutex;
    std::string page = "# no interval has completed yet\n";
    std::string address;
    std::thread thread;
};

// Binds at once and starts serving; throws UserError when the address is bad or taken, or the
// web configuration cannot be used.
void start(Server& state, const std::string& listen, const std::string& web_config_path) {
    WebConfig web_config;
    if (!web_config_path.empty()) web_config = read_web_config(web_config_path);
    if (!web_config.cert_file.empty()) {
        auto secure = std::make_unique<httplib::SSLServer>(web_config.cert_file.c_str(),
                                                           web_config.key_file.c_str());
        if (!secure->is_valid()) {
            throw UserError(fmt::format(
                "bad --metrics-web-config {}: cannot load the certificate {} or the key {}",
                web_config_path, web_config.cert_file, web_config.key_file));
        }
        state.server = std::move(secure);
    } else {
        state.server = std::make_unique<httplib::Server>();
    }
    if (!web_config.users.empty()) {
        state.server->set_pre_routing_handler(
            [users = web_config.users](const httplib::Request& request,
                                       httplib::Response& response) {
                if (authorized(request, users)) return httplib::Server::HandlerResponse::Unhandled;
                response.status = 401;
                response.set_header("WWW-Authenticate", "Basic realm=\"ephemera\"");
                response.set_content("Unauthorized\n", "text/plain");
                return httplib::Server::HandlerResponse::Handled;
            });
    }
    const ListenAddress where = parse_listen(listen);
    state.address = fmt::format("{}://{}:{}", web_config.cert_file.empty() ? "http" : "https",
                                where.host, where.port);
    state.server->Get("/metrics", [&state](const httplib::Request&, httplib::Response& response) {
        std::string page;
        {
            std::lock_guard lock(state.mutex);
            page = state.page;
        }
        response.set_content(page, "text/plain; version=0.0.4; charset=utf-8");
    });
    state.server->Get("/", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("ephemera: metrics at /metrics\n", "text/plain");
    });
    state.server->new_task_queue = [] { return new ConnectionThreads(max_connection_threads); };
    state.server->set_keep_alive_timeout(idle_connection_timeout_s);
    state.server->set_read_timeout(transfer_timeout_s);
    state.server->set_write_timeout(transfer_timeout_s);
    state.server->set_keep_alive_max_count(100);
    state.server->set_payload_max_length(64 * 1024);  // a scrape sends no body
    errno = 0;
    if (!state.server->bind_to_port(where.host, where.port)) {
        const int error = errno;
        throw UserError(fmt::format("cannot serve metrics on {}:{}: {}", where.host, where.port,
                                    error != 0 ? std::strerror(error) : "cannot bind"));
    }
    state.thread = std::thread([&state] { state.server->listen_after_bind(); });
}

void stop(Server& state) {
    // stop() only stops a server that is already listening: give the thread a moment to start.
    for (int waited_ms = 0; waited_ms < 2000 && !state.server->is_running(); ++waited_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    state.server->stop();
    if (state.thread.joinable()) state.thread.join();
}

}  // namespace
}  // namespace ephemera

extern "C" {

void* ephemera_metrics_start(const char* listen, const char* web_config, char* error,
                             std::size_t error_size) {
    auto server = std::make_unique<ephemera::Server>();
    try {
        ephemera::start(*server, listen, web_config);
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
