// What the shared-address analysis (several hosts behind one address, and both sides of
// translators paired) costs `ephemera analyze --format json` on a capture: the whole run, capture
// to report written (to /dev/null), in this process with it and without it, in interleaved rounds
// (the order swapped every round, as this machine drifts). Prints, for wall time and for CPU time
// (every thread's, less disturbed by what else the machine runs), each median and the per-round
// ratio's median and range. It measures; it asserts nothing.
//
//   bench-nat CAPTURE [ROUNDS]
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ephemera/app/analyze.hpp"
#include "ephemera/report/report.hpp"

namespace {

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

struct Times {
    double wall = 0;
    double cpu = 0;
};

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& time) { return time.tv_sec + time.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Times time_analysis(const std::string& capture, bool shared_addresses) {
    ephemera::AnalyzeOptions options;
    options.inputs = {capture};
    options.format = ephemera::ReportFormat::json;
    options.shared_addresses = shared_addresses;
    const double cpu_start = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    {
        const ephemera::AnalysisResult result = ephemera::analyze_captures(options);
        if (result.report.clients.empty()) {
            fmt::print(stderr, "bench-nat: no clients in {}\n", capture);
        }
        std::FILE* discard = std::fopen("/dev/null", "w");
        ephemera::write_json(discard, result.report, ephemera::ReportOptions{});
        std::fclose(discard);
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    return {elapsed.count(), cpu_seconds() - cpu_start};
}

void print_row(const char* what, const std::vector<double>& with,
               const std::vector<double>& without) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < with.size(); ++i) ratios.push_back(with[i] / without[i]);
    const auto [lowest, highest] = std::minmax_element(ratios.begin(), ratios.end());
    fmt::print(
        "  {:<5} {:.3f} s with, {:.3f} s without; per round x{:.3f} (median), range "
        "x{:.3f}-{:.3f}\n",
        what, median(with), median(without), median(ratios), *lowest, *highest);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: bench-nat CAPTURE [ROUNDS]\n");
        return 2;
    }
    const std::string capture = argv[1];
    const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 15;
    time_analysis(capture, true);  // the capture into the page cache, the allocator warm
    std::vector<double> wall_with, wall_without, cpu_with, cpu_without;
    for (int round = 0; round < rounds; ++round) {
        Times on, off;
        if (round % 2 == 0) {
            on = time_analysis(capture, true);
            off = time_analysis(capture, false);
        } else {
            off = time_analysis(capture, false);
            on = time_analysis(capture, true);
        }
        wall_with.push_back(on.wall);
        wall_without.push_back(off.wall);
        cpu_with.push_back(on.cpu);
        cpu_without.push_back(off.cpu);
    }
    fmt::print("shared-address analysis, {} interleaved rounds (medians):\n", rounds);
    print_row("wall", wall_with, wall_without);
    print_row("CPU", cpu_with, cpu_without);
    return 0;
}
