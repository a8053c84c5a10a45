#include "ephemera/app/metrics_server.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <climits>

#include "ephemera/app/metrics_module.hpp"
#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

// The module sits beside the program (the build directory, or wherever both were installed).
std::string module_path() {
    std::array<char, PATH_MAX> program{};
    const ssize_t length = readlink("/proc/self/exe", program.data(), program.size() - 1);
    std::string directory = length > 0 ? std::string(program.data(), length) : std::string();
    const std::size_t slash = directory.rfind('/');
    directory = slash == std::string::npos ? "." : directory.substr(0, slash);
    return directory + "/libephemera-metrics.so";
}

template <typename Function>
Function symbol_of(void* module, const char* name) {
    void* symbol = dlsym(module, name);
    if (symbol == nullptr) throw UserError(fmt::format("cannot serve metrics: {}", dlerror()));
    return reinterpret_cast<Function>(symbol);
}

}  // namespace

struct MetricsServer::State {
    void* server = nullptr;
    decltype(&ephemera_metrics_publish) publish = nullptr;
    decltype(&ephemera_metrics_stop) stop = nullptr;
    std::string address;
};

MetricsServer::MetricsServer(const std::string& listen, const std::string& web_config)
    : state_(std::make_unique<State>()) {
    const std::string path = module_path();
    // Loaded once and kept: its serving thread runs its code until the end.
    void* module = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module == nullptr) {
        // dlerror() names the file: "PATH: cannot open shared object file: ...".
        throw UserError(fmt::format("cannot serve metrics: {}", dlerror()));
    }
    const auto start =
        symbol_of<decltype(&ephemera_metrics_start)>(module, "ephemera_metrics_start");
    const auto address =
        symbol_of<decltype(&ephemera_metrics_address)>(module, "ephemera_metrics_address");
    state_->publish =
        symbol_of<decltype(&ephemera_metrics_publish)>(module, "ephemera_metrics_publish");
    state_->stop = symbol_of<decltype(&ephemera_metrics_stop)>(module, "ephemera_metrics_stop");
    std::array<char, 512> error{};
    state_->server = start(listen.c_str(), web_config.c_str(), error.data(), error.size());
    if (state_->server == nullptr) throw UserError(error.data());
    state_->address = address(state_->server);
}

MetricsServer::~MetricsServer() {
    if (state_->server != nullptr) state_->stop(state_->server);
}

void MetricsServer::publish(std::string page) {
    state_->publish(state_->server, page.data(), page.size());
}

const std::string& MetricsServer::address() const noexcept {
    return state_->address;
}

}  // namespace ephemera
