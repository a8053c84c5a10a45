// `ephemera live`: the analyze pipeline on packets from an interface, with a view refreshed every
// interval, alerts, Prometheus metrics, and the final report when it is stopped.
// `ephemera interfaces`: what can be captured on.
#pragma once

#include <string>

#include "ephemera/app/analyze.hpp"

namespace ephemera {

struct LiveOptions {
    AnalyzeOptions analysis;  // filter, format (text|json), output and the analysis settings
    std::string interface;
    int snaplen = 256;
    int buffer_mib = 32;
    double interval_s = 2.0;
    double window_s = 60.0;
    double duration_s = 0.0;  // 0: until SIGINT or SIGTERM
    double reopen_s = 0.0;    // how long to keep reopening an interface that went away; 0: stop
    double alert_at = 0.8;
    std::string write_path;          // also save the packets here
    std::string metrics_listen;      // [ADDR:]PORT; empty: no metrics
    std::string metrics_web_config;  // --metrics-web-config: TLS and basic authentication
    std::size_t metrics_top = 50;
    std::string user;  // drop to this user once the capture is open
    std::size_t max_records = 1'000'000;
};

// Throws UserError for anything the user can fix; returns the exit code otherwise.
int run_live(const LiveOptions& options);
int run_interfaces();

}  // namespace ephemera
