// `ephemera live` on real traffic: two network namespaces joined by a veth pair, a server in one,
// ephemera and a client in the other. The client holds 14 connections of a 16-port range open,
// then closes them; ephemera's JSON lines, alerts, Prometheus metrics and final report are checked
// against that, and the final report against `ephemera analyze` of its own --write file.
// Needs root (CI runs as root); skipped with a message otherwise.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>

#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

const std::string client_address = "198.18.5.1";
const std::string server_address = "198.18.5.2";
constexpr int held_connections = 14;  // of a 16-port range: 0.875, over the 0.8 alert

std::string traffic_script() {
    return (source_dir() / "scripts" / "traffic.py").string();
}

// Two namespaces and the veth between them, removed whatever happens to the test.
class NamespacePair {
  public:
    NamespacePair() {
        const std::string id = std::to_string(getpid());
        client = "eph-live-c-" + id;
        server = "eph-live-s-" + id;
        client_interface = "elc" + id;
        server_interface = "els" + id;
        remove();
        created_ = true;
        std::vector<std::vector<std::string>> commands = {
            {"ip", "netns", "add", client},
            {"ip", "netns", "add", server},
        };
        for (auto& command : link_commands()) commands.push_back(std::move(command));
        commands.push_back({"ip", "netns", "exec", client, "sysctl", "-qw",
                            "net.ipv4.ip_local_port_range=40000 40015"});
        for (const auto& command : commands) {
            const RunResult result = run(command);
            if (result.exit_code != 0 && &command == &commands.front()) {
                unavailable = "this machine cannot create network namespaces: " + result.err;
                return;
            }
            if (result.exit_code != 0) {
                throw std::runtime_error("setting up namespaces failed: " + result.err);
            }
        }
    }
    ~NamespacePair() {
        if (created_) remove();
    }

    // The veth pair goes (a container's interface deleted), and comes back the same.
    void remove_link() const { run({"ip", "-n", client, "link", "del", client_interface}); }
    void make_link() const {
        for (const auto& command : link_commands()) {
            const RunResult result = run(command);
            if (result.exit_code != 0) throw std::runtime_error("ip failed: " + result.err);
        }
    }

    // `ip netns exec NS` followed by the command.
    std::vector<std::string> in(const std::string& ns, std::vector<std::string> command) const {
        command.insert(command.begin(), {"ip", "netns", "exec", ns});
        return command;
    }

    std::string client, server, client_interface, server_interface;
    std::string unavailable;  // why namespaces cannot be made here, if they cannot

  private:
    std::vector<std::vector<std::string>> link_commands() const {
        return {
            {"ip", "link", "add", client_interface, "netns", client, "type", "veth", "peer", "name",
             server_interface, "netns", server},
            // No IPv6 link-local addresses: the capture holds only the test's traffic.
            {"ip", "-n", client, "link", "set", client_interface, "addrgenmode", "none"},
            {"ip", "-n", server, "link", "set", server_interface, "addrgenmode", "none"},
            {"ip", "-n", client, "addr", "add", client_address + "/24", "dev", client_interface},
            {"ip", "-n", server, "addr", "add", server_address + "/24", "dev", server_interface},
            {"ip", "-n", client, "link", "set", client_interface, "up"},
            {"ip", "-n", server, "link", "set", server_interface, "up"},
            {"ip", "-n", client, "link", "set", "lo", "up"},
            {"ip", "-n", server, "link", "set", "lo", "up"},
        };
    }

    void remove() {
        for (const std::string& ns : {client, server}) {
            std::system(("ip netns pids " + ns + " 2>/dev/null | xargs -r kill -9").c_str());
            run({"ip", "netns", "del", ns});
        }
    }
    bool created_ = false;
};

bool can_make_namespaces(std::string& why) {
    if (geteuid() != 0) {
        why = "needs root to create network namespaces (CI runs as root)";
    } else if (!have_program("ip") || !have_program("python3")) {
        why = "needs iproute2 and python3 (scripts/setup installs them)";
    }
    return why.empty();
}

std::vector<json> json_lines(const std::string& text) {
    std::vector<json> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(json::parse(line));
    }
    return lines;
}

// The value of the one sample of `name` whose labels are exactly `labels`, from a scrape.
std::optional<double> metric(const std::string& scrape, const std::string& name,
                             const std::string& labels) {
    const std::string prefix = labels.empty() ? name + " " : name + "{" + labels + "} ";
    std::istringstream in(scrape);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
    }
    return std::nullopt;
}

// The report without what names its input (an interface, or the file it was written to).
json without_input(json report) {
    report["capture"].erase("inputs");
    report["capture"].erase("drops");
    return report;
}

class Live : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string why;
        if (!can_make_namespaces(why)) GTEST_SKIP() << why;
        net_ = std::make_unique<NamespacePair>();
        if (!net_->unavailable.empty()) GTEST_SKIP() << net_->unavailable;
    }
    // The traffic server in the server namespace, on server_address:8080; "ready" in
    // server.out once it listens.
    std::unique_ptr<Background> serve_on_8080() {
        return std::make_unique<Background>(
            net_->in(net_->server,
                     {"python3", traffic_script(), "serve", "--tcp", server_address + ",8080"}),
            dir_.file("server.out"), dir_.file("server.err"));
    }

    std::unique_ptr<NamespacePair> net_;
    TempDir dir_;
};

TEST_F(Live, WatchesAClientFillItsRangeAlertsServesMetricsAndReportsAsAnalyzeDoes) {
    NamespacePair& net = *net_;
    const std::unique_ptr<Background> server = serve_on_8080();
    ASSERT_TRUE(wait_for_text(dir_.file("server.out"), "ready", 20));

    const std::string pcap = dir_.file("live.pcap");
    Background live(
        net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface, "--format", "json",
                            "--interval", "0.25", "--range", "40000-40015", "--time-wait", "1",
                            "--metrics-listen", "9464", "--write", pcap}),
        dir_.file("live.out"), dir_.file("live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "capturing on", 20))
        << read_file(dir_.file("live.err"));

    const std::string truth = dir_.file("truth.jsonl");
    Background client(
        net.in(net.client, {"python3", traffic_script(), "connect", "--to",
                            "tcp," + server_address + ",8080," + std::to_string(held_connections),
                            "--gap", "0.15", "--hold-seconds", "3", "--log", truth}),
        dir_.file("client.out"), dir_.file("client.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("client.out"), "holding", 30));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // a few intervals on
    const RunResult scrape = run(
        net.in(net.client, {"python3", "-c",
                            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
                            "'http://127.0.0.1:9464/metrics').read().decode())"}));
    ASSERT_EQ(scrape.exit_code, 0) << scrape.err;
    ASSERT_EQ(client.wait(60), 0) << read_file(dir_.file("client.err"));
    // TIME_WAIT is 1 s here (--time-wait): let the occupancy fall back and the alert clear.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    live.signal(SIGINT);
    ASSERT_EQ(live.wait(60), 0) << read_file(dir_.file("live.err"));

    // The metrics, scraped while the 14 connections were held.
    const std::string labels = "client=\"" + client_address + "\",server=\"" + server_address +
                               "\",port=\"8080\",protocol=\"tcp\"";
    EXPECT_EQ(metric(scrape.out, "ephemera_destination_occupied_ports", labels), held_connections)
        << scrape.out;
    EXPECT_EQ(metric(scrape.out, "ephemera_destination_range_ports", labels), 16);
    EXPECT_EQ(metric(scrape.out, "ephemera_destination_utilization", labels),
              held_connections / 16.0);
    EXPECT_EQ(metric(scrape.out, "ephemera_destination_new_connections_total", labels),
              held_connections);
    EXPECT_EQ(metric(scrape.out, "ephemera_connections_started_total", "protocol=\"tcp\""),
              held_connections);
    EXPECT_GT(
        metric(scrape.out, "ephemera_packets_total", "interface=\"" + net.client_interface + "\"")
            .value_or(0),
        3 * held_connections);
    EXPECT_EQ(metric(scrape.out, "ephemera_dropped_packets_total",
                     "interface=\"" + net.client_interface + "\",where=\"kernel\""),
              0);
    if (have_program("promtool")) {  // Prometheus's own parser and linter
        std::ofstream(dir_.file("scrape.txt")) << scrape.out;
        const RunResult check = run({"promtool", "check", "metrics"}, dir_.file("scrape.txt"));
        EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    }
    // Every metric the Prometheus rules read is one this scrape serves.
    const std::string rules =
        read_file(source_dir() / "monitoring" / "prometheus" / "ephemera.rules.yml");
    // (Recording rules' names, level:metric:operation, are the rules' own.)
    const std::regex metric_name(R"((^|[^:a-z_])(ephemera_[a-z_]+)(?![a-z_:]))");
    for (auto it = std::sregex_iterator(rules.begin(), rules.end(), metric_name);
         it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[2].str();
        EXPECT_NE(scrape.out.find("# TYPE " + name + " "), std::string::npos)
            << name << " is in ephemera.rules.yml but not served";
    }

    // The JSON lines: the destination's occupancy climbs one connection at a time to 14, then
    // falls to 0 once they are closed and out of TIME_WAIT.
    const std::vector<json> lines = json_lines(read_file(dir_.file("live.out")));
    // Each line, the final report too, is a report of the schema in docs/.
    if (run({"python3", "-c", "import jsonschema"}).exit_code == 0) {
        std::ofstream(dir_.file("lines.jsonl")) << read_file(dir_.file("live.out"));
        const RunResult checked = run(
            {"python3", "-c",
             "import json, sys, jsonschema\n"
             "check = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
             "errors = [e.message for line in open(sys.argv[2]) for e in "
             "check.iter_errors(json.loads(line))]\n"
             "print(errors[:3]); sys.exit(1 if errors else 0)",
             (source_dir() / "docs" / "report.schema.json").string(), dir_.file("lines.jsonl")});
        EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
    }
    ASSERT_GE(lines.size(), 10u);
    std::vector<int> occupied;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        ASSERT_TRUE(lines[i].contains("live")) << "line " << i;
        EXPECT_EQ(lines[i]["schema"], "ephemera.report.v2");
        int now = 0;
        for (const json& destination : lines[i]["live"]["services"]) {
            if (destination["port"] == 8080) now = destination["occupied"];
        }
        occupied.push_back(now);
    }
    const auto peak = std::max_element(occupied.begin(), occupied.end());
    EXPECT_EQ(*peak, held_connections);
    std::set<int> climbing(occupied.begin(), peak);
    EXPECT_GE(climbing.size(), 4u) << "the view should show the climb, not just the top";
    EXPECT_TRUE(std::is_sorted(occupied.begin(), peak));
    EXPECT_EQ(occupied.back(), 0);

    // One alert when it crossed 0.8, one when it fell back: never one per packet.
    const std::string err = read_file(dir_.file("live.err"));
    const std::regex raised("alert: " + client_address + " -> " + server_address +
                            ":8080/tcp utilization 0.8[0-9] \\((13|14)/16 ports\\) reached 0.80");
    const std::regex cleared("alert cleared: " + client_address + " -> " + server_address +
                             ":8080/tcp .* fell below 0.80");
    const auto count = [&](const std::regex& pattern) {
        return std::distance(std::sregex_iterator(err.begin(), err.end(), pattern),
                             std::sregex_iterator());
    };
    EXPECT_EQ(count(raised), 1) << err;
    EXPECT_EQ(count(cleared), 1) << err;
    EXPECT_LT(err.find("alert:"), err.find("alert cleared:"));

    // The final report, the last line: as analyze says of the --write file, and as the client's
    // own sockets say.
    const json& final_report = lines.back();
    EXPECT_FALSE(final_report.contains("live"));
    EXPECT_EQ(final_report["capture"]["drops"]["kernel"], 0);
    const RunResult analyzed = run_ephemera(
        {"analyze", "--format", "json", "--range", "40000-40015", "--time-wait", "1", pcap});
    ASSERT_EQ(analyzed.exit_code, 0) << analyzed.err;
    EXPECT_EQ(without_input(final_report), without_input(json::parse(analyzed.out)));

    const std::vector<json> sockets = json_lines(read_file(truth));
    ASSERT_EQ(sockets.size(), static_cast<std::size_t>(held_connections));
    std::set<int> ports;
    for (const json& connection : sockets) ports.insert(connection["client_port"].get<int>());
    ASSERT_EQ(final_report["clients"].size(), 1u);
    const json& client_report = final_report["clients"][0];
    EXPECT_EQ(client_report["address"], client_address);
    EXPECT_EQ(client_report["tcp_connections"], held_connections);
    EXPECT_EQ(client_report["ports"]["distinct"], ports.size());
    EXPECT_EQ(client_report["ports"]["min"], *ports.begin());
    EXPECT_EQ(client_report["ports"]["max"], *ports.rbegin());
    EXPECT_EQ(client_report["exhaustion"]["services"][0]["peak_occupied"], held_connections);
}

TEST_F(Live, UserErrorsAreOneLineAndExitTwo) {
    NamespacePair& net = *net_;
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    // Something already listening where the metrics should go.
    Background listener(net.in(net.client, {"python3", "-c",
                                            "import socket, time; s = socket.socket(); "
                                            "s.bind(('127.0.0.1', 9465)); s.listen(); "
                                            "print('ready', flush=True); time.sleep(60)"}),
                        dir_.file("listener.out"), dir_.file("listener.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("listener.out"), "ready", 20));
    const std::vector<Case> cases = {
        {{"-i", "no-such-interface"}, "no such interface 'no-such-interface'"},
        {{"-i", net.client_interface, "--filter", "tcp port"}, "bad filter 'tcp port'"},
        {{"-i", net.client_interface, "--metrics-listen", "9465"},
         "cannot serve metrics on 127.0.0.1:9465: Address already in use"},
        {{"-i", net.client_interface, "--metrics-listen", "99999"}, "bad --metrics-listen"},
        {{"-i", net.client_interface, "--user", "no-such-user-here"},
         "no such user 'no-such-user-here'"},
        {{"-i", net.client_interface, "--format", "html"}, "--format"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> command = {EPHEMERA_BINARY, "live"};
        command.insert(command.end(), c.args.begin(), c.args.end());
        const RunResult result = run(net.in(net.client, command), "/dev/null", 30);
        EXPECT_EQ(result.exit_code, 2) << c.message << ": " << result.err;
        EXPECT_NE(result.err.find(c.message), std::string::npos) << result.err;
        EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
    }
    // The program copied somewhere without the metrics module beside it: serving metrics needs
    // the module, and says which file it looked for.
    const std::string alone = dir_.file("ephemera");
    std::filesystem::copy_file(EPHEMERA_BINARY, alone);
    const RunResult result = run(
        net.in(net.client, {alone, "live", "-i", net.client_interface, "--metrics-listen", "9466"}),
        "/dev/null", 30);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("cannot serve metrics: " + dir_.file("libephemera-metrics.so")),
              std::string::npos)
        << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(Live, StopsWhenItsReaderGoesAwayAndStillSavesTheCapture) {
    NamespacePair& net = *net_;
    const std::string pcap = dir_.file("piped.pcap");
    const std::string status = dir_.file("live.status");
    // `ephemera live ... | head -n 1`: head exits after the first JSON line, and live's next
    // write meets a closed pipe. Live's own exit code goes to a file: the pipeline's is head's.
    const RunResult result = run(
        net.in(net.client, {"/bin/sh", "-c",
                            "(\"$0\" live -i \"$1\" --format json --interval 0.2 --write \"$2\"; "
                            "echo $? > \"$3\") | head -n 1",
                            EPHEMERA_BINARY, net.client_interface, pcap, status}),
        "/dev/null", 30);
    ASSERT_FALSE(result.timed_out) << "live went on capturing after its reader had gone";
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.out.find("\"live\":"), std::string::npos) << result.out;
    EXPECT_EQ(read_file(status), "0\n");
    EXPECT_NE(result.err.find("standard output was closed; stopped"), std::string::npos)
        << result.err;
    // The --write file was closed whole: analyze reads it without a warning.
    const RunResult analyzed = run_ephemera({"analyze", "--format", "json", pcap});
    EXPECT_EQ(analyzed.exit_code, 0) << analyzed.err;
    EXPECT_EQ(analyzed.err, "");
}

// Connections from the client namespace to the server, each opened and closed: the truth file
// they append to.
void run_client(const NamespacePair& net, const std::string& truth, int connections) {
    const RunResult client =
        run(net.in(net.client, {"python3", traffic_script(), "connect", "--to",
                                "tcp," + server_address + ",8080," + std::to_string(connections),
                                "--gap", "0.05", "--log", truth}),
            "/dev/null", 60);
    ASSERT_EQ(client.exit_code, 0) << client.err;
}

// The interface goes away (a container's veth deleted): live stops, says why, and still writes
// the final report of what it saw, and the --write file whole.
TEST_F(Live, AnInterfaceThatGoesAwayStillGetsItsFinalReport) {
    NamespacePair& net = *net_;
    const std::unique_ptr<Background> server = serve_on_8080();
    ASSERT_TRUE(wait_for_text(dir_.file("server.out"), "ready", 20));
    const std::string final_report = dir_.file("final.json");
    const std::string pcap = dir_.file("saved.pcap");
    Background live(net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface,
                                        "--interval", "0.2", "-o", final_report, "-w", pcap}),
                    dir_.file("live.out"), dir_.file("live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "capturing on", 20));
    run_client(net, dir_.file("truth.jsonl"), 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    net.remove_link();
    EXPECT_EQ(live.wait(30), 2) << read_file(dir_.file("live.err"));
    const std::string err = read_file(dir_.file("live.err"));
    EXPECT_NE(err.find("(the final report was written)"), std::string::npos) << err;
    ASSERT_TRUE(std::filesystem::exists(final_report)) << err;
    const json report = json::parse(read_file(final_report));
    EXPECT_EQ(report["connections"]["tcp"], 5);
    ASSERT_FALSE(report["warnings"].empty());
    EXPECT_NE(report["warnings"].back().get<std::string>().find("capture stopped early"),
              std::string::npos);
    const RunResult saved = run_ephemera({"analyze", "--format", "json", pcap});
    EXPECT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_EQ(saved.err, "");
    EXPECT_EQ(json::parse(saved.out)["connections"]["tcp"], 5);
}

// With --reopen, live waits for the interface to come back and goes on counting.
TEST_F(Live, ReopensAnInterfaceThatComesBack) {
    NamespacePair& net = *net_;
    const std::unique_ptr<Background> server = serve_on_8080();
    ASSERT_TRUE(wait_for_text(dir_.file("server.out"), "ready", 20));
    const std::string final_report = dir_.file("final.json");
    Background live(net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface,
                                        "--interval", "0.2", "--reopen", "20", "-o", final_report}),
                    dir_.file("live.out"), dir_.file("live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "capturing on", 20));
    run_client(net, dir_.file("truth.jsonl"), 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    net.remove_link();
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "reopening it for up to 20 s", 20))
        << read_file(dir_.file("live.err"));
    // The server's side went with the pair: it comes back, and so does the server.
    net.make_link();
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "is back after", 20))
        << read_file(dir_.file("live.err"));
    run_client(net, dir_.file("truth.jsonl"), 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    live.signal(SIGINT);
    EXPECT_EQ(live.wait(30), 0) << read_file(dir_.file("live.err"));
    const json report = json::parse(read_file(final_report));
    EXPECT_EQ(report["connections"]["tcp"], 7) << "counting went on after the interface came back";
    bool said = false;
    for (const json& warning : report["warnings"]) {
        said |= warning.get<std::string>().find("packets in between were not seen") !=
                std::string::npos;
    }
    EXPECT_TRUE(said) << report["warnings"];
}

TEST_F(Live, DropsToTheUserBeforeOpeningTheOutputAndStopsAfterTheDuration) {
    NamespacePair& net = *net_;
    // Only root may write here: the capture file is opened after the switch to nobody, as
    // tcpdump -Z does, so this fails, and proves the switch happened.
    using std::filesystem::perms;
    std::filesystem::permissions(dir_.path(), perms::others_exec,
                                 std::filesystem::perm_options::add);
    const std::filesystem::path private_dir = dir_.path() / "root-only";
    std::filesystem::create_directory(private_dir);
    std::filesystem::permissions(private_dir, perms::owner_all);
    const RunResult denied = run(
        net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface, "--user", "nobody",
                            "--write", (private_dir / "x.pcap").string(), "--duration", "1"}));
    EXPECT_EQ(denied.exit_code, 2) << denied.err;
    EXPECT_NE(denied.err.find("cannot write"), std::string::npos) << denied.err;

    // World-writable: as nobody it captures, stops by itself and reports (text, not a terminal:
    // JSON lines each interval, and the final report one JSON line more: one format per run).
    std::filesystem::permissions(private_dir, perms::all);
    const std::string pcap = (private_dir / "ok.pcap").string();
    const RunResult ran = run(
        net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface, "--user", "nobody",
                            "--write", pcap, "--duration", "1.2", "--interval", "0.5"}));
    EXPECT_EQ(ran.exit_code, 0) << ran.err;
    EXPECT_NE(ran.out.find("\"live\":"), std::string::npos) << ran.out;
    const std::vector<json> lines = json_lines(ran.out);  // every line is JSON
    ASSERT_GE(lines.size(), 2u);
    EXPECT_FALSE(lines.back().contains("live"));
    EXPECT_EQ(lines.back()["capture"]["inputs"][0]["path"], net.client_interface);
    // Nothing was sent: an empty capture lasted no time, and had no first or last packet.
    if (lines.back()["capture"]["packets"] == 0) {
        EXPECT_EQ(lines.back()["capture"]["duration_s"], 0.0);
        EXPECT_TRUE(lines.back()["capture"]["first_at"].is_null());
    }
    EXPECT_EQ(std::filesystem::status(pcap).type(), std::filesystem::file_type::regular);
    struct stat info {};
    ASSERT_EQ(stat(pcap.c_str(), &info), 0);
    EXPECT_NE(info.st_uid, 0u) << "the capture file should belong to nobody";

    const RunResult interfaces = run(net.in(net.client, {EPHEMERA_BINARY, "interfaces"}));
    EXPECT_EQ(interfaces.exit_code, 0);
    EXPECT_NE(interfaces.out.find(net.client_interface), std::string::npos) << interfaces.out;
    EXPECT_NE(interfaces.out.find(client_address), std::string::npos) << interfaces.out;
}

// The metrics endpoint under idle and busy clients: 200 connections held open and silent (a
// slowloris, or a load balancer's stale pool) once made every scrape wait more than 20 s; now a
// scrape is answered at once beside them (within the client's 5 s timeout), and then 2,000 scrapes
// arriving 50 at a time are all answered.
TEST_F(Live, MetricsAreServedBesideIdleConnectionsAndBursts) {
    NamespacePair& net = *net_;
    // In the server's namespace: the client's has a 16-port range, too few for 200 connections.
    Background live(
        net.in(net.server, {EPHEMERA_BINARY, "live", "-i", net.server_interface, "--format", "json",
                            "--interval", "0.5", "--metrics-listen", "9465"}),
        dir_.file("live.out"), dir_.file("live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "capturing on", 20))
        << read_file(dir_.file("live.err"));
    const char* clients = R"(
import concurrent.futures, json, socket, time, urllib.request
url = "http://127.0.0.1:9465/metrics"
idle = [socket.create_connection(("127.0.0.1", 9465)) for _ in range(200)]
time.sleep(0.5)
def scrape(_):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, b"ephemera_packets_total" in response.read()
result = {}
try:
    result["beside_idle"] = scrape(0)
except Exception as failure:
    result["beside_idle"] = str(failure)
with concurrent.futures.ThreadPoolExecutor(50) as pool:
    answers = list(pool.map(scrape, range(2000)))
result["burst_ok"] = sum(1 for status, served in answers if status == 200 and served)
print(json.dumps(result))
)";
    const RunResult result = run(net.in(net.server, {"python3", "-c", clients}), "/dev/null", 300);
    live.signal(SIGINT);
    EXPECT_EQ(live.wait(60), 0) << read_file(dir_.file("live.err"));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const json answers = json::parse(result.out);
    EXPECT_EQ(answers["beside_idle"], json::array({200, true})) << result.out;
    EXPECT_EQ(answers["burst_ok"], 2000) << result.out;
}

// A real Prometheus (Debian's) scrapes two ephemera: one on the client, whose range is 16 ports,
// and one on the server, which sees the same connections but not that range. The client fills
// 14 of its 16 ports: Prometheus fires monitoring/prometheus's critical alert for the client's
// instance and service, and nothing for the server's. The rules are the shipped ones with their
// `for` durations cut to 5 s (promtool's unit tests check the real durations), so the test takes
// seconds, not minutes.
TEST_F(Live, PrometheusFiresTheCriticalAlertForTheFullClientOnly) {
    if (!have_program("prometheus")) GTEST_SKIP() << "prometheus is not installed (scripts/setup)";
    NamespacePair& net = *net_;
    const std::unique_ptr<Background> server = serve_on_8080();
    ASSERT_TRUE(wait_for_text(dir_.file("server.out"), "ready", 20));
    const std::string on_client = client_address + ":9466";
    const std::string on_server = server_address + ":9467";
    Background client_live(net.in(net.client, {EPHEMERA_BINARY, "live", "-i", net.client_interface,
                                               "--format", "json", "--interval", "0.5", "--range",
                                               "40000-40015", "--metrics-listen", on_client}),
                           dir_.file("client-live.out"), dir_.file("client-live.err"));
    Background server_live(
        net.in(net.server, {EPHEMERA_BINARY, "live", "-i", net.server_interface, "--format", "json",
                            "--interval", "0.5", "--metrics-listen", on_server}),
        dir_.file("server-live.out"), dir_.file("server-live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("client-live.err"), "capturing on", 20));
    ASSERT_TRUE(wait_for_text(dir_.file("server-live.err"), "capturing on", 20));

    std::string rules =
        read_file(source_dir() / "monitoring" / "prometheus" / "ephemera.rules.yml");
    rules = std::regex_replace(rules, std::regex(R"(for: \w+)"), "for: 5s");
    std::ofstream(dir_.file("ephemera.rules.yml")) << rules;
    std::ofstream(dir_.file("prometheus.yml"))
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           "rule_files: [ephemera.rules.yml]\n"
           "scrape_configs:\n"
           "  - job_name: ephemera\n"
           "    static_configs: [{targets: [\""
        << on_client << "\", \"" << on_server << "\"]}]\n";
    std::filesystem::create_directory(dir_.path() / "data");
    // In the server's namespace: in the client's, its scrapes would take ports from the range the
    // client is filling.
    Background prometheus(
        net.in(net.server,
               {"prometheus", "--config.file=" + dir_.file("prometheus.yml"),
                "--storage.tsdb.path=" + dir_.file("data"), "--web.listen-address=127.0.0.1:9490"}),
        dir_.file("prometheus.out"), dir_.file("prometheus.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("prometheus.err"), "Server is ready", 30))
        << read_file(dir_.file("prometheus.err"));

    Background client(
        net.in(net.client,
               {"python3", traffic_script(), "connect", "--to",
                "tcp," + server_address + ",8080," + std::to_string(held_connections), "--gap",
                "0.05", "--hold-seconds", "40", "--log", dir_.file("truth.jsonl")}),
        dir_.file("client.out"), dir_.file("client.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("client.out"), "holding", 30))
        << read_file(dir_.file("client.err")) << read_file(dir_.file("client.out"));
    // Prometheus's own view of its alerts, polled until the critical one fires (or 35 s pass).
    const char* poll = R"(
import json, sys, time, urllib.request
deadline = time.time() + 35
while True:
    alerts = json.load(urllib.request.urlopen("http://127.0.0.1:9490/api/v1/alerts"))["data"]["alerts"]
    firing = [a for a in alerts if a["state"] == "firing"]
    if any(a["labels"]["alertname"] == "EphemeralPortsCritical" for a in firing) or time.time() > deadline:
        print(json.dumps(firing))
        break
    time.sleep(0.5)
)";
    const RunResult alerts = run(net.in(net.server, {"python3", "-c", poll}), "/dev/null", 60);
    prometheus.signal(SIGTERM);
    prometheus.wait(30);
    client_live.signal(SIGINT);
    server_live.signal(SIGINT);
    client_live.wait(60);
    server_live.wait(60);
    ASSERT_EQ(alerts.exit_code, 0) << alerts.err;
    const json firing = json::parse(alerts.out);
    ASSERT_EQ(firing.size(), 1u) << firing.dump(1);
    const json& labels = firing[0]["labels"];
    EXPECT_EQ(labels["alertname"], "EphemeralPortsCritical");
    EXPECT_EQ(labels["severity"], "critical");
    EXPECT_EQ(labels["instance"], on_client);
    EXPECT_EQ(labels["client"], client_address);
    EXPECT_EQ(labels["server"], server_address);
    EXPECT_EQ(labels["port"], "8080");
    EXPECT_EQ(std::stod(firing[0]["value"].get<std::string>()), held_connections / 16.0);
    EXPECT_NE(firing[0]["annotations"]["description"].get<std::string>().find("EADDRNOTAVAIL"),
              std::string::npos);
}

// --metrics-web-config, Prometheus's exporter-toolkit format: over TLS, with the right password
// a scrape gets the metrics; with a wrong one, or none, 401; plain HTTP gets nothing. A
// configuration that cannot be used is one line and exit 2.
TEST_F(Live, MetricsOverTlsWithBasicAuthentication) {
    if (!have_program("openssl")) GTEST_SKIP() << "openssl is not installed";
    const std::string python = "/usr/bin/python3";
    if (run({python, "-c", "import bcrypt"}).exit_code != 0) {
        GTEST_SKIP() << "python3-bcrypt is not installed (scripts/setup)";
    }
    NamespacePair& net = *net_;
    const RunResult certificate =
        run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
             dir_.file("key.pem"), "-out", dir_.file("cert.pem")});
    ASSERT_EQ(certificate.exit_code, 0) << certificate.err;
    const RunResult hash = run({python, "-c",
                                "import bcrypt; print(bcrypt.hashpw(b'right horse', "
                                "bcrypt.gensalt(rounds=6)).decode())"});
    ASSERT_EQ(hash.exit_code, 0) << hash.err;
    std::ofstream(dir_.file("web.yml"))
        << "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
           "basic_auth_users:\n  prometheus: '"
        << hash.out.substr(0, hash.out.find('\n')) << "'\n";

    Background live(net.in(net.server, {EPHEMERA_BINARY, "live", "-i", net.server_interface,
                                        "--format", "json", "--interval", "0.3", "--metrics-listen",
                                        "9468", "--metrics-web-config", dir_.file("web.yml")}),
                    dir_.file("live.out"), dir_.file("live.err"));
    ASSERT_TRUE(wait_for_text(dir_.file("live.err"), "https://127.0.0.1:9468/metrics", 20))
        << read_file(dir_.file("live.err"));
    const std::string scrapes = R"(
import base64, json, ssl, sys, time, urllib.request, urllib.error
time.sleep(0.7)
context = ssl.create_default_context(cafile=sys.argv[1])
def status(url, password):
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(b"prometheus:" + password.encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return [response.status, b"ephemera_packets_total" in response.read()]
    except urllib.error.HTTPError as error:
        return [error.code, False]
    except Exception as failure:
        return [0, type(failure).__name__]
url = "https://127.0.0.1:9468/metrics"
print(json.dumps({"right": status(url, "right horse"), "wrong": status(url, "wrong horse"),
                  "none": status(url, None),
                  "plain": status("http://127.0.0.1:9468/metrics", "right horse")}))
)";
    const RunResult result =
        run(net.in(net.server, {"python3", "-c", scrapes, dir_.file("cert.pem")}), "/dev/null", 60);
    live.signal(SIGINT);
    EXPECT_EQ(live.wait(60), 0) << read_file(dir_.file("live.err"));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const json statuses = json::parse(result.out);
    EXPECT_EQ(statuses["right"], json::array({200, true})) << result.out;
    EXPECT_EQ(statuses["wrong"][0], 401) << result.out;
    EXPECT_EQ(statuses["none"][0], 401) << result.out;
    EXPECT_NE(statuses["plain"][0], 200) << result.out;

    std::ofstream(dir_.file("bad.yml")) << "tls_server_config:\n  cert_file: missing.pem\n";
    const RunResult bad = run(net.in(
        net.server, {EPHEMERA_BINARY, "live", "-i", net.server_interface, "--metrics-listen",
                     "9469", "--metrics-web-config", dir_.file("bad.yml"), "--duration", "1"}));
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_NE(bad.err.find("--metrics-web-config"), std::string::npos) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
}  // namespace ephemera::test
