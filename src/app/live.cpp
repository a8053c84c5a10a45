#include "ephemera/app/live.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "ephemera/analysis/live_monitor.hpp"
#include "ephemera/app/metrics_server.hpp"
#include "ephemera/capture/live.hpp"
#include "ephemera/core/errors.hpp"
#include "ephemera/report/output.hpp"
#include "ephemera/report/report.hpp"
#include "ephemera/track/pipeline.hpp"

namespace ephemera {
namespace {

std::atomic<int> stop_signal{0};

void on_stop_signal(int signal) {
    stop_signal.store(signal);
}

// Without SA_RESTART, so the poll in LiveCapture::wait returns at once.
void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a metrics client hanging up is not our death
}

Micros wall_clock() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<Micros>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

// As tcpdump -Z does: once the capture is open, the rest runs as an ordinary user.
void drop_privileges(const std::string& user) {
    const passwd* entry = getpwnam(user.c_str());
    if (entry == nullptr) throw UserError(fmt::format("no such user '{}' (--user)", user));
    if (initgroups(entry->pw_name, entry->pw_gid) != 0 || setgid(entry->pw_gid) != 0 ||
        setuid(entry->pw_uid) != 0) {
        throw UserError(fmt::format("cannot switch to user '{}': {}", user, std::strerror(errno)));
    }
    if (entry->pw_uid != 0 && setuid(0) == 0) {
        throw UserError(fmt::format("switched to user '{}' but could regain root", user));
    }
}

void validate(const LiveOptions& options) {
    if (options.interval_s <= 0) throw UserError("--interval must be positive");
    if (options.window_s <= 0) throw UserError("--window must be positive");
    if (options.duration_s < 0) throw UserError("--duration must be positive");
    if (options.alert_at <= 0) throw UserError("--alert-at must be positive");
    if (options.snaplen < 64 || options.snaplen > 262144) {
        throw UserError("--snaplen must be between 64 and 262144");
    }
    if (options.buffer_mib < 1) throw UserError("--buffer-size must be at least 1 MiB");
}

// Runs refreshes on a thread of its own, one at a time, so the capture thread only copies the
// window (LiveMonitor::take_window) and goes back to the interface while the window is analyzed
// and drawn. A refresh that throws is rethrown on the capture thread by the next call.
class RefreshThread {
  public:
    using Refresh = std::function<void(LiveWindow, LiveHealth)>;

    explicit RefreshThread(Refresh refresh)
        : refresh_(std::move(refresh)), thread_([this] { serve(); }) {}
    RefreshThread(const RefreshThread&) = delete;
    RefreshThread& operator=(const RefreshThread&) = delete;
    // Unwinding already: a refresh's own failure would only hide the first one.
    ~RefreshThread() {
        try {
            stop();
        } catch (...) {
        }
    }

    // Whether a refresh is under way (start() must wait until it is not).
    bool busy() {
        std::lock_guard lock(mutex_);
        rethrow_failure();
        return job_.has_value();
    }
    void start(LiveWindow window, LiveHealth health) {
        {
            std::lock_guard lock(mutex_);
            rethrow_failure();
            job_.emplace(std::move(window), health);
        }
        changed_.notify_all();
    }
    // Waits for the refresh under way, if any, and ends the thread.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        changed_.notify_all();
        thread_.join();
        std::lock_guard lock(mutex_);
        rethrow_failure();
    }

  private:
    void serve() {
        std::unique_lock lock(mutex_);
        for (;;) {
            changed_.wait(lock, [&] { return job_.has_value() || stopping_; });
            if (!job_) return;
            lock.unlock();
            try {
                refresh_(std::move(job_->first), job_->second);
            } catch (...) {
                lock.lock();
                failure_ = std::current_exception();
                job_.reset();
                return;
            }
            lock.lock();
            job_.reset();
        }
    }
    void rethrow_failure() {
        if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
    }

    Refresh refresh_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::optional<std::pair<LiveWindow, LiveHealth>> job_;  // set while a refresh is under way
    bool stopping_ = false;
    std::exception_ptr failure_;
    std::thread thread_;  // last: started once the rest is ready
};

class LiveSession {
  public:
    LiveSession(const LiveOptions& options, LiveCapture& capture, MetricsServer* metrics)
        : options_(options),
          capture_(capture),
          metrics_(metrics),
          started_(wall_clock()),
          monitor_(monitor_options(options), started_),
          pipeline_(tracker_options(options.analysis), monitor_, decode_options(options.analysis)),
          screen_(options.analysis.format == ReportFormat::text && isatty(STDOUT_FILENO)) {
        report_options_ = {options.analysis.top, options.analysis.destinations};
    }

    int run() {
        const Micros interval = static_cast<Micros>(options_.interval_s * 1e6);
        const Micros deadline =
            options_.duration_s > 0 ? started_ + static_cast<Micros>(options_.duration_s * 1e6) : 0;
        Micros next_tick = started_ + interval;
        while (stop_signal.load() == 0 && stdout_error_.load() == 0) {
            const Micros now = wall_clock();
            if (deadline != 0 && now >= deadline) break;
            // A tick due while the previous refresh is still drawn waits for it, capturing.
            const bool refreshing = refresher_.busy();
            if (now >= next_tick && !refreshing) {
                tick(now);
                next_tick = now + interval;
            }
            const Micros until_tick = refreshing ? 10'000 : next_tick - wall_clock();
            try {
                capture_.wait(static_cast<int>(std::clamp<Micros>(until_tick / 1000, 1, 100)));
                capture_.dispatch(&LiveSession::on_frame, this);
            } catch (const CaptureLost& lost) {
                if (!reopen_after(lost.what())) {
                    stopped_because_ = lost.what();
                    break;
                }
            }
        }
        return finish();
    }

  private:
    // The interface went away: with --reopen, tries to open it again every 200 ms for that long,
    // and says so. True when it is back (counting goes on where it left off).
    bool reopen_after(const std::string& why) {
        if (options_.reopen_s <= 0) return false;
        const Micros lost_at = wall_clock();
        const Micros give_up = lost_at + static_cast<Micros>(options_.reopen_s * 1e6);
        fmt::print(stderr, "ephemera: warning: {}; reopening it for up to {:g} s\n", why,
                   options_.reopen_s);
        std::fflush(stderr);
        while (stop_signal.load() == 0 && wall_clock() < give_up) {
            if (capture_.reopen()) {
                const double gap_s = static_cast<double>(wall_clock() - lost_at) / 1e6;
                fmt::print(stderr, "ephemera: '{}' is back after {:.1f} s; counting goes on\n",
                           capture_.interface(), gap_s);
                std::fflush(stderr);
                gaps_.push_back(fmt::format(
                    "{} at {} UTC; reopened {:.1f} s later: packets in between were not seen", why,
                    format_utc(lost_at).substr(0, 19), gap_s));
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return false;
    }

    static LiveMonitorOptions monitor_options(const LiveOptions& options) {
        LiveMonitorOptions result;
        result.ports = port_options(options.analysis);
        result.ports.occupancy_series = false;  // no output of live draws it
        result.scans = ScanOptions{options.analysis.scan_ports, 0.8};
        result.window = static_cast<Micros>(options.window_s * 1e6);
        result.alert_at = options.alert_at;
        result.max_records = options.max_records;
        return result;
    }

    static void on_frame(void* context, const RawFrame& frame) {
        static_cast<LiveSession*>(context)->pipeline_.on_frame(frame.timestamp, frame.link_type,
                                                               frame.bytes);
    }

    LiveHealth health(Micros now, const LiveStats& stats) {
        LiveHealth health;
        health.interface = capture_.interface();
        health.packets = pipeline_.capture().packets;
        const double elapsed_s = static_cast<double>(now - last_tick_time_) / 1e6;
        health.packets_per_s =
            elapsed_s > 0 ? static_cast<double>(health.packets - last_tick_packets_) / elapsed_s
                          : 0.0;
        health.kernel_drops = stats.kernel_drops;
        health.interface_drops = stats.interface_drops;
        health.alert_at = options_.alert_at;
        last_tick_time_ = now;
        last_tick_packets_ = health.packets;
        return health;
    }

    CaptureSummary capture_summary(const LiveStats& stats) {
        CaptureSummary summary = pipeline_.capture();
        CaptureSummary::File interface;
        interface.path = capture_.interface();
        interface.link_type = capture_.link_name();
        interface.packets = summary.packets;
        summary.files = {interface};
        summary.live = true;
        summary.kernel_drops = stats.kernel_drops;
        summary.interface_drops = stats.interface_drops;
        return summary;
    }

    // On the capture thread: what the refresh reads, handed to the refresh thread.
    void tick(Micros now) {
        const LiveStats stats = capture_.stats();
        const LiveHealth current = health(now, stats);
        refresher_.start(monitor_.take_window(now, pipeline_.tracker(), capture_summary(stats)),
                         current);
    }

    // On the refresh thread: the window analyzed, alerts, the screen or JSON line, the metrics.
    void refresh(LiveWindow window, const LiveHealth& current) {
        const Micros now = window.time;
        const LiveSnapshot snapshot = monitor_.analyze(std::move(window));
        for (const AlertChange& change : snapshot.alerts) {
            const std::string line = render_alert(change, options_.alert_at);
            std::fputs(line.c_str(), stderr);
            recent_alerts_.push_back(format_utc(now).substr(11, 8) + " " + line);
            if (recent_alerts_.size() > 5) recent_alerts_.pop_front();
        }
        std::fflush(stderr);
        if (screen_) {
            std::string screen = "\x1b[H\x1b[2J";  // home, clear: redraw in place
            screen += render_live_screen(snapshot, current, report_options_);
            if (!recent_alerts_.empty()) {
                screen += "\nRECENT ALERTS\n";
                for (const std::string& alert : recent_alerts_) screen += "  " + alert;
            }
            std::fputs(screen.c_str(), stdout);
        } else {
            std::fputs(render_live_json(snapshot, current, report_options_).c_str(), stdout);
        }
        // Standard output gone (its reader exited, as `| head` does; SIGPIPE is ignored for the
        // metrics server) or full: stop as Ctrl-C would, rather than capture on unseen.
        stdout_error_.store(standard_output_error());
        if (metrics_ != nullptr) {
            metrics_->publish(render_prometheus(snapshot, current, options_.metrics_top));
        }
    }

    // Stops capturing and reports on every packet seen, as `analyze` would on the --write file.
    int finish() {
        refresher_.stop();  // the refresh under way is drawn before the final report
        const LiveStats stats = capture_.stats();
        pipeline_.finish();
        CaptureSummary summary = capture_summary(stats);
        std::vector<std::string> warnings = pipeline_warnings(summary);
        if (stats.kernel_drops + stats.interface_drops > 0) {
            warnings.push_back(fmt::format(
                "{} packets were dropped by the kernel and {} by the interface before ephemera "
                "saw them (a larger --buffer-size or a narrower --filter helps)",
                stats.kernel_drops, stats.interface_drops));
        }
        for (const std::string& gap : gaps_) warnings.push_back(gap);
        if (!stopped_because_.empty()) {
            warnings.push_back(fmt::format(
                "capture stopped early: {}; this report covers what was seen until then",
                stopped_because_));
        }
        if (monitor_.log().dropped() > 0) {
            warnings.push_back(fmt::format(
                "the oldest {} connections were dropped to stay within --max-records {}: this "
                "report covers the rest",
                monitor_.log().dropped(), options_.max_records));
        }
        const Report report =
            build_report(monitor_.log().records(), std::move(summary), std::move(warnings),
                         monitor_.options().ports, monitor_.options().scans);
        const bool to_stdout = options_.analysis.output.empty();
        // Standard output that failed during the run gets no report; a file still does.
        if (stdout_error_ == 0 || !to_stdout) {
            if (screen_ && stdout_error_ == 0) std::fputs("\n", stdout);
            // On standard output the final report takes the run's one format: after the screen,
            // text; after JSON lines, one JSON line more (the one without a "live" key). In a
            // file it is laid out as analyze lays it out, in the file's format.
            std::string rendered;
            if (to_stdout) {
                rendered = screen_ ? render_text(report, report_options_)
                                   : render_json_line(report, report_options_);
            } else if (options_.analysis.format == ReportFormat::json) {
                rendered = render_json(report, report_options_);
            } else {
                rendered = render_text(report, report_options_);
            }
            write_output(options_.analysis.output, rendered);
        }
        if (stdout_error_ != 0) return stopped_by_stdout();
        if (!stopped_because_.empty()) {
            // The report is written; the run still failed.
            fmt::print(stderr, "ephemera: {} (the final report was written)\n", stopped_because_);
            return exit_code::user_error;
        }
        return exit_code::ok;
    }

    // A reader that went away (`| head`) ends a pipeline as Ctrl-C would; a full disk is an
    // error. Either way the --write file is closed whole as the session unwinds.
    int stopped_by_stdout() const {
        if (stdout_error_ != EPIPE) fail_on_standard_output(stdout_error_);
        fmt::print(stderr, "ephemera: standard output was closed; stopped\n");
        return exit_code::ok;
    }

    const LiveOptions& options_;
    LiveCapture& capture_;
    MetricsServer* metrics_;
    Micros started_;
    LiveMonitor monitor_;
    PacketPipeline pipeline_;
    bool screen_;
    ReportOptions report_options_;
    Micros last_tick_time_ = started_;
    std::uint64_t last_tick_packets_ = 0;
    std::deque<std::string> recent_alerts_;  // the refresh thread's
    std::atomic<int> stdout_error_ = 0;      // errno of a failed write to standard output
    std::string stopped_because_;            // the capture failed and could not be reopened
    std::vector<std::string> gaps_;          // times the interface went away and came back
    // Last: its thread calls refresh(), which reads the members above.
    RefreshThread refresher_{
        [this](LiveWindow window, LiveHealth current) { refresh(std::move(window), current); }};
};

}  // namespace

int run_live(const LiveOptions& options) {
    validate(options);
    port_options(options.analysis);  // reject bad analysis options before touching the interface
    tracker_options(options.analysis);
    LiveCapture capture(
        {options.interface, options.analysis.filter, options.snaplen, options.buffer_mib});
    std::unique_ptr<MetricsServer> metrics;
    if (!options.metrics_listen.empty()) {
        metrics =
            std::make_unique<MetricsServer>(options.metrics_listen, options.metrics_web_config);
    }
    if (!options.user.empty()) drop_privileges(options.user);
    if (!options.write_path.empty()) capture.write_to(options.write_path);
    install_stop_handlers();
    fmt::print(stderr, "ephemera: capturing on {} ({}){}{}; Ctrl-C stops\n", capture.interface(),
               capture.link_name(),
               metrics ? fmt::format(", metrics at {}/metrics", metrics->address()) : "",
               options.write_path.empty() ? "" : ", saving to " + options.write_path);
    LiveSession session(options, capture, metrics.get());
    return session.run();
}

int run_interfaces() {
    const std::vector<InterfaceInfo> interfaces = list_interfaces();
    for (const InterfaceInfo& interface : interfaces) {
        std::string flags;
        if (interface.up) flags += "up";
        if (interface.running) flags += flags.empty() ? "running" : ",running";
        if (interface.loopback) flags += flags.empty() ? "loopback" : ",loopback";
        std::string addresses;
        for (const std::string& address : interface.addresses) {
            addresses += (addresses.empty() ? "" : " ") + address;
        }
        fmt::print("{:<16} {:<20} {}{}\n", interface.name, flags.empty() ? "down" : flags,
                   addresses,
                   interface.description.empty() ? "" : "  (" + interface.description + ")");
    }
    if (interfaces.empty()) {
        fmt::print(stderr,
                   "ephemera: no interfaces to capture on (run as root or with CAP_NET_RAW)\n");
    }
    return exit_code::ok;
}

}  // namespace ephemera
