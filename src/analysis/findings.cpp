#include "ephemera/analysis/findings.hpp"

#include <algorithm>
#include <string>

namespace ephemera {
namespace {

void add_exhaustion_findings(std::vector<Finding>& findings, const ClientSummary& client,
                             std::uint32_t subject) {
    const std::vector<DestinationOccupancy>& destinations = client.port_use.exhaustion.destinations;
    for (std::uint32_t i = 0; i < destinations.size(); ++i) {
        if (destinations[i].verdict <= Verdict::ok) continue;
        findings.push_back(
            {FindingKind::destination_occupancy, 1.0 + destinations[i].utilization, subject, i});
    }
    for (std::uint32_t i = 0; i < destinations.size(); ++i) {
        const DestinationOccupancy& destination = destinations[i];
        // Where the range already ran out, that finding says more than the rate. UDP has no
        // TIME_WAIT, so no rate it sustains.
        if (destination.protocol != Protocol::tcp ||
            destination.peak_new_per_s <= destination.sustainable_new_per_s ||
            destination.verdict >= Verdict::critical) {
            continue;
        }
        findings.push_back({FindingKind::rate_above_sustainable, 0.9, subject, i});
    }
}

void add_port_use_findings(std::vector<Finding>& findings, const ClientSummary& client,
                           std::uint32_t subject, double critical_at) {
    const ClientPorts& use = client.port_use;
    const auto add = [&](FindingKind kind, double severity) {
        findings.push_back({kind, severity, subject, 0});
    };
    if (use.failures.refused + use.failures.unanswered > 0) add(FindingKind::failed_attempts, 0.8);
    if (use.reuse.time_wait_collisions > 0) add(FindingKind::time_wait_collisions, 0.75);
    if (use.reuse.time_wait_reuses > 0) add(FindingKind::time_wait_reuse, 0.7);
    if (use.range.evidence == RangeEvidence::cycled && use.range.range.size() < 1024) {
        add(FindingKind::narrow_range, 0.6);
    }
    if (use.range.evidence == RangeEvidence::configured && use.range.outside > 0) {
        add(FindingKind::configured_range_mismatch, 5.0);
    }
    if (use.shared.likely) add(FindingKind::shared_address, 0.85);
    const std::uint32_t peak =
        use.exhaustion.destinations.empty() ? 0 : use.exhaustion.destinations.front().peak_occupied;
    if (range_in_doubt(use.range, peak, critical_at)) add(FindingKind::range_doubt, 0.65);
}

}  // namespace

void add_client_findings(std::vector<Finding>& findings, const ClientSummary& client,
                         std::uint32_t subject, double critical_at) {
    add_exhaustion_findings(findings, client, subject);
    add_port_use_findings(findings, client, subject, critical_at);
}

bool range_in_doubt(const RangeEstimate& range, std::uint32_t peak_occupied, double alarming) {
    if (range.evidence == RangeEvidence::estimated) return true;
    if (range.evidence != RangeEvidence::os_default) return false;
    const std::uint32_t span = std::uint32_t{range.seen.high} - range.seen.low + 1;
    const bool narrow = span * 10 < range.range.size();
    return narrow && peak_occupied >= alarming * span;
}

std::vector<Finding> rank_findings(const Report& report) {
    std::vector<Finding> findings;
    const auto add = [&](FindingKind kind, double severity, std::size_t subject) {
        findings.push_back({kind, severity, static_cast<std::uint32_t>(subject), 0});
    };
    // What was unwrapped: the report is of the inner traffic, which says so first of all.
    if (!report.capture.tunnels.empty()) add(FindingKind::tunnels, 0.5, 0);
    for (std::size_t i = 0; i < report.translations.size(); ++i) {
        add(FindingKind::translator, 0.86, i);
    }
    if (report.clients.on_demand()) {
        const std::span<const Finding> of_clients = report.clients.findings();
        findings.insert(findings.end(), of_clients.begin(), of_clients.end());
    } else {
        const std::vector<ClientSummary>& clients = report.clients.held();
        for (std::size_t i = 0; i < clients.size(); ++i) {
            add_client_findings(findings, clients[i], static_cast<std::uint32_t>(i),
                                report.critical_at);
        }
    }
    // An input read only in part comes first: everything after it describes only that part.
    const std::vector<CaptureSummary::File>& files = report.capture.files;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (!files[i].stopped.empty()) add(FindingKind::input_stopped, 100.0, i);
    }
    // Capture-wide warnings (a flood, a clock step) frame everything after them; one that says an
    // input stopped is said once.
    for (std::size_t i = 0; i < report.warnings.size(); ++i) {
        const std::string& warning = report.warnings[i];
        const bool said = std::any_of(files.begin(), files.end(), [&](const auto& file) {
            return !file.stopped.empty() && file.stopped == warning;
        });
        if (!said) add(FindingKind::capture_warning, 0.95, i);
    }
    for (std::size_t i = 0; i < report.scans.size(); ++i) add(FindingKind::port_scan, 0.9, i);
    if (report.capture.packets == 0 && !report.capture.live && !report.capture.filtered) {
        add(FindingKind::empty_capture, 0.96, 0);
    }
    std::stable_sort(findings.begin(), findings.end(),
                     [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
    return findings;
}

}  // namespace ephemera
