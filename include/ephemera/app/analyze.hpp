// `ephemera analyze`: runs the whole pipeline over capture files.
#pragma once

#include <string>
#include <vector>

namespace ephemera {

struct AnalyzeOptions {
    std::vector<std::string> inputs;  // capture files; "-" is standard input
    std::string filter;               // BPF, tcpdump syntax
    std::string format = "text";      // text | json
    std::string output;               // report file; empty: stdout
    std::string connections_csv;      // one row per connection; empty: none
    double udp_timeout_s = 60.0;
    std::size_t top = 20;
};

// Throws UserError for anything the user can fix; returns the exit code otherwise.
int run_analyze(const AnalyzeOptions& options);

}  // namespace ephemera
