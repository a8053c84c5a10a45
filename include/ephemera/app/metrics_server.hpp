// `ephemera live --metrics-listen`: serves /metrics over HTTP (cpp-httplib, in the module
// libephemera-metrics.so beside the program, loaded here) from a thread of its own. The capture
// loop publishes a rendered page each interval; a scrape copies the latest one under a mutex, so
// serving never waits on the capture and the capture never waits on a scrape.
#pragma once

#include <memory>
#include <string>

namespace ephemera {

class MetricsServer {
  public:
    // `listen` is [ADDR:]PORT (ADDR defaults to 127.0.0.1; [v6]:PORT for IPv6). Binds at once:
    // throws UserError when the address is bad, the port is taken or the web configuration
    // cannot be used.
    MetricsServer(const std::string& listen, const std::string& web_config);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void publish(std::string page);
    const std::string& address() const noexcept;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace ephemera
