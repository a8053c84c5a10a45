#include "ephemera/track/pipeline.hpp"

#include <fmt/format.h>

namespace ephemera {

std::vector<std::string> pipeline_warnings(const CaptureSummary& capture) {
    std::vector<std::string> warnings;
    if (capture.evicted_half_open + capture.evicted_other > 0) {
        warnings.push_back(fmt::format(
            "more than {} connections at once (--max-connections): {} half-open attempts (a SYN "
            "flood?) were dropped uncounted as clients, and {} older connections ended early",
            capture.max_connections, capture.evicted_half_open, capture.evicted_other));
    }
    if (capture.duplicates > 0) {
        warnings.push_back(fmt::format(
            "{} packets were captured twice (e.g. -i any across a bridge) and counted once",
            capture.duplicates));
    }
    if (capture.backward_steps > 0) {
        warnings.push_back(fmt::format(
            "timestamps went backwards {} times, by up to {:.6f} s (a clock step?): packets are "
            "taken in file order, times as recorded",
            capture.backward_steps, static_cast<double>(capture.largest_backward_step) / 1e6));
    }
    if (capture.packets_in_shared_segment > 0) {
        warnings.push_back(fmt::format(
            "more than {} segments (--split-segments): {} packets of the later ones share the "
            "last segment's number",
            CaptureSummary::max_segments - 1, capture.packets_in_shared_segment));
    }
    return warnings;
}

}  // namespace ephemera
