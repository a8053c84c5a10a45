// The HTML report: self-contained, and every plot drawn in a real browser (headless Chromium,
// skipped with a message where it is not installed: scripts/setup --with-browser).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "run.hpp"

namespace ephemera::test {
namespace {

using nlohmann::json;

struct HtmlReport {
    std::string html;
    json data;  // the embedded JSON the plots are drawn from
};

HtmlReport render(const TempDir& temp, const std::string& capture) {
    const std::string path = temp.file("report.html");
    const RunResult result =
        run_ephemera({"analyze", "--format", "html", "-o", path, sample(capture).string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    HtmlReport report{read_file(path), json()};
    const std::string open = "<script type=\"application/json\" id=\"ephemera-data\">";
    const std::size_t begin = report.html.find(open);
    const std::size_t end = report.html.find("</script>", begin);
    if (begin != std::string::npos && end != std::string::npos) {
        report.data =
            json::parse(report.html.substr(begin + open.size(), end - begin - open.size()));
    }
    return report;
}

TEST(HtmlReport, SelfContainedAndSmall) {
    TempDir temp;
    const HtmlReport report = render(temp, "exhausted.pcap");
    EXPECT_LT(report.html.size(), 5u * 1024 * 1024);
    for (const char* external : {"<script src", "<link", "@import", "src=\"http", "href=\"http"}) {
        EXPECT_EQ(report.html.find(external), std::string::npos) << external;
    }
    EXPECT_NE(report.html.find("Chart.js"), std::string::npos)
        << "the library's licence travels with it";
    ASSERT_TRUE(report.data.is_object());
    ASSERT_EQ(report.data["clients"].size(), 1u);
    EXPECT_EQ(report.data["clients"][0]["points"].size(), 48u);
    EXPECT_NE(report.html.find("16 of 16 ports occupied"), std::string::npos);
}

// Chromium loads the page, runs its script, and dumps the DOM: each canvas carries how many
// points it drew and how many pixels it inked, <body> whether it finished and any errors.
TEST(HtmlReport, EveryPlotDrawsInABrowser) {
    if (!have_program("chromium")) {
        GTEST_SKIP() << "chromium is not installed (scripts/setup --with-browser): not rendered";
    }
    TempDir temp;
    for (const std::string capture : {"exhausted.pcap", "tw-reuse.pcap", "any-sll2.pcap"}) {
        const HtmlReport report = render(temp, capture);
        const RunResult browser =
            run({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" + temp.file("profile"), "--virtual-time-budget=5000",
                 "--dump-dom", "file://" + temp.file("report.html")},
                "/dev/null", 120);
        ASSERT_EQ(browser.exit_code, 0) << browser.err;
        const std::string& dom = browser.out;
        EXPECT_NE(dom.find("<body data-ready=\"true\">"), std::string::npos)
            << capture
            << ": script did not finish, or logged errors: " << dom.substr(dom.find("<body"), 300);

        const json& clients = report.data["clients"];
        const std::regex canvas_pattern(
            "<canvas id=\"(\\w+)-(\\d+)\"[^>]*data-points=\"(\\d+)\"[^>]* data-ink=\"(\\d+)\"");
        std::size_t canvases = 0;
        for (std::sregex_iterator it(dom.begin(), dom.end(), canvas_pattern), end; it != end;
             ++it) {
            ++canvases;
            const std::string plot = (*it)[1];
            const json& client = clients.at(std::stoul((*it)[2]));
            const std::size_t points = std::stoul((*it)[3]);
            EXPECT_GT(std::stoul((*it)[4]), 500u) << capture << " " << plot << " drew nothing";
            if (plot == "ports") {
                EXPECT_EQ(points, client["points"].size()) << capture;
            } else if (plot == "occupancy") {
                std::size_t steps = 0;
                for (const json& destination : client["occupancy"])
                    steps += destination["series"].size();
                EXPECT_EQ(points, steps) << capture;
            } else {
                // One bar per bin for each of the three kinds of reuse.
                EXPECT_EQ(points, 3 * client["intervals"]["edges"].size()) << capture;
            }
        }
        // A client with no reuse gets a sentence instead of its histogram.
        std::size_t sentences = 0;
        for (std::size_t at = dom.find("class=\"no-reuse\""); at != std::string::npos;
             at = dom.find("class=\"no-reuse\"", at + 1))
            ++sentences;
        EXPECT_EQ(canvases + sentences, 3 * clients.size()) << capture << ": a plot is missing";
    }
}

// Every chart of a report as Chromium drew it: what each canvas recorded of its own chart
// (datasets, tick labels, the labels placed on it), by plot and client.
struct DrawnReport {
    std::string dom;
    HtmlReport report;
    std::map<std::string, json> charts;  // "ports-0", "occupancy-0", "intervals-0", ...
};

std::string unescape_attribute(std::string text) {
    for (const auto& [entity, plain] : {std::pair{"&quot;", "\""}, std::pair{"&lt;", "<"},
                                        std::pair{"&gt;", ">"}, std::pair{"&amp;", "&"}}) {
        for (std::size_t at = text.find(entity); at != std::string::npos;
             at = text.find(entity, at + 1)) {
            text.replace(at, std::string(entity).size(), plain);
        }
    }
    return text;
}

DrawnReport draw(const TempDir& temp, const std::string& capture) {
    DrawnReport drawn;
    drawn.report = render(temp, capture);
    const RunResult browser =
        run({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + temp.file("profile"), "--virtual-time-budget=5000", "--dump-dom",
             "file://" + temp.file("report.html")},
            "/dev/null", 120);
    EXPECT_EQ(browser.exit_code, 0) << browser.err;
    drawn.dom = browser.out;
    const std::regex chart_pattern("<canvas id=\"(\\w+-\\d+)\"[^>]*data-chart=\"([^\"]*)\"");
    for (std::sregex_iterator it(drawn.dom.begin(), drawn.dom.end(), chart_pattern), end; it != end;
         ++it) {
        drawn.charts[(*it)[1]] = json::parse(unescape_attribute((*it)[2]));
    }
    return drawn;
}

bool overlap(const json& a, const json& b) {
    const auto at = [](const json& box, const char* key) { return box[key].get<double>(); };
    return at(a, "x") < at(b, "x") + at(b, "w") && at(b, "x") < at(a, "x") + at(a, "w") &&
           at(a, "y") < at(b, "y") + at(b, "h") && at(b, "y") < at(a, "y") + at(a, "h");
}

// The reuse histogram shows the kinds the JSON counts, each its own colour with a legend, with
// the JSON's totals: tw-reuse.pcap reuses 4-tuples inside TIME_WAIT, exhausted.pcap reuses ports
// towards other services only (none inside TIME_WAIT, though every bar used to be red).
TEST(HtmlCharts, ReuseHistogramShowsTheKindsTheJsonCounts) {
    if (!have_program("chromium")) GTEST_SKIP() << "chromium is not installed";
    TempDir temp;
    for (const std::string capture : {"tw-reuse.pcap", "exhausted.pcap"}) {
        const DrawnReport drawn = draw(temp, capture);
        const json report = json::parse(
            run_ephemera({"analyze", "--format", "json", sample(capture).string()}).out);
        const json& reuse = report["clients"][0]["reuse"];
        const json& chart = drawn.charts.at("intervals-0");
        ASSERT_EQ(chart["datasets"].size(), 3u) << capture;
        const std::map<std::string, json> expected = {
            {"same 4-tuple within TIME_WAIT", reuse["time_wait_reuses"]},
            {"same 4-tuple after TIME_WAIT",
             reuse["tuple_reuses"].get<int>() - reuse["time_wait_reuses"].get<int>()},
            {"same port, another service", reuse["other_service_reuses"]}};
        std::set<std::string> colours;
        for (const json& dataset : chart["datasets"]) {
            EXPECT_EQ(dataset["total"], expected.at(dataset["label"])) << capture;
            colours.insert(dataset["color"].get<std::string>());
        }
        EXPECT_EQ(colours.size(), 3u) << "each kind its own colour";
        EXPECT_EQ(chart["legend"].size(), 3u);
    }
    // A client with no reuse gets a sentence, not empty axes.
    const DrawnReport healthy = draw(temp, "tcp-ipv4.pcap");
    EXPECT_EQ(healthy.charts.count("intervals-0"), 0u);
    EXPECT_NE(healthy.dom.find("No source port was used twice by 198.18.0.1"), std::string::npos);
}

// Port axes: integers without separators. Log axes: powers of ten. Labels never overlap.
// Occupancy: steps, the capture's end marked, identical lines each visible.
TEST(HtmlCharts, AxesLabelsAndLinesAreReadable) {
    if (!have_program("chromium")) GTEST_SKIP() << "chromium is not installed";
    TempDir temp;
    for (const std::string capture :
         {"exhausted.pcap", "tcp-ipv4.pcap", "linux-default.pcap", "any-sll2.pcap"}) {
        const DrawnReport drawn = draw(temp, capture);
        ASSERT_FALSE(drawn.charts.empty()) << capture;
        for (const auto& [name, chart] : drawn.charts) {
            const json& labels = chart["labels"];
            for (std::size_t i = 0; i < labels.size(); ++i) {
                for (std::size_t j = i + 1; j < labels.size(); ++j) {
                    EXPECT_FALSE(overlap(labels[i], labels[j]))
                        << capture << " " << name << ": '" << labels[i]["text"] << "' and '"
                        << labels[j]["text"] << "' overlap";
                }
            }
            if (name.rfind("ports-", 0) == 0) {
                for (const json& tick : chart["y_ticks"]) {
                    EXPECT_TRUE(std::regex_match(tick.get<std::string>(), std::regex("[0-9]+")))
                        << capture << " port tick " << tick;
                }
            }
            if (name.rfind("occupancy-", 0) == 0) {
                if (chart["y_type"] == "logarithmic") {
                    for (const json& tick : chart["y_ticks"]) {
                        EXPECT_TRUE(std::regex_match(tick.get<std::string>(), std::regex("10*")))
                            << capture << " log tick " << tick;
                    }
                }
                bool capture_end = false;
                for (const json& label : labels) capture_end |= label["text"] == "capture ends";
                EXPECT_TRUE(capture_end) << capture << " " << name;
                std::set<std::pair<int, std::string>> looks;
                for (const json& dataset : chart["datasets"]) {
                    EXPECT_EQ(dataset["stepped"], "before") << capture;
                    looks.insert({dataset["width"].get<int>(), dataset["dash"].dump()});
                }
                EXPECT_EQ(looks.size(), chart["datasets"].size())
                    << capture << ": two lines drawn alike would hide each other";
            }
        }
    }
    // exhausted.pcap's three services fill up identically: three lines, each visible.
    const DrawnReport exhausted = draw(temp, "exhausted.pcap");
    EXPECT_EQ(exhausted.charts.at("occupancy-0")["datasets"].size(), 3u);
    // tcp-ipv4.pcap is far from its range: a log axis.
    EXPECT_EQ(draw(temp, "tcp-ipv4.pcap").charts.at("occupancy-0")["y_type"], "logarithmic");
}

// Text and HTML say "nothing to report" alike; times carry microseconds and "UTC" in both.
TEST(HtmlReport, SaysWhatTheTextReportSays) {
    TempDir temp;
    const HtmlReport healthy = render(temp, "tcp-ipv4.pcap");
    const std::string text = run_ephemera({"analyze", sample("tcp-ipv4.pcap").string()}).out;
    ASSERT_NE(text.find("Findings: nothing to report"), std::string::npos) << text;
    const std::size_t in_text = text.find("Findings: ") + 10;
    const std::string said = text.substr(in_text, text.find('\n', in_text) - in_text);
    EXPECT_NE(healthy.html.find(said), std::string::npos) << said;
}

// A client that used no ephemeral port gets an "unknown" badge, not "ok".
TEST(HtmlReport, NothingMeasuredIsUnknownNotOk) {
    const auto dhcp =
        source_dir() / ".." / "shared" / "corpus" / "tcpdump-tests" / "dhcp-rfc3004.pcap";
    if (!std::filesystem::exists(dhcp)) GTEST_SKIP() << "../shared/corpus is not here";
    TempDir temp;
    const std::string path = temp.file("dhcp.html");
    ASSERT_EQ(run_ephemera({"analyze", "-o", path, dhcp.string()}).exit_code, 0);
    const std::string html = read_file(path);
    EXPECT_NE(html.find("<span class=\"verdict\">unknown</span>"), std::string::npos);
    EXPECT_EQ(html.find("<span class=\"verdict\">ok</span>"), std::string::npos);
}

// A lone UDP service is drawn in its own colour under its own name, not as "other".
TEST(HtmlCharts, UdpServicesAreDrawnLikeTcpOnes) {
    if (!have_program("chromium")) GTEST_SKIP() << "chromium is not installed";
    TempDir temp;
    const DrawnReport drawn = draw(temp, "udp.pcap");
    for (const std::string client : {"0", "1"}) {
        const json& ports = drawn.charts.at("ports-" + client);
        ASSERT_EQ(ports["datasets"].size(), 1u);
        EXPECT_NE(ports["datasets"][0]["label"].get<std::string>().find("/udp"), std::string::npos);
        EXPECT_NE(ports["datasets"][0]["color"], "#999");
        EXPECT_EQ(drawn.charts.at("occupancy-" + client)["datasets"].size(), 1u);
    }
    EXPECT_NE(drawn.dom.find("<span class=\"verdict\">ok</span>"), std::string::npos);
}

}  // namespace
}  // namespace ephemera::test
