// The HTML report: self-contained, and every plot drawn in a real browser (headless Chromium,
// skipped with a message where it is not installed: scripts/setup --with-browser).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

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
            "<canvas id=\"(\\w+)-(\\d+)\"[^>]*data-points=\"(\\d+)\" data-ink=\"(\\d+)\"");
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
                EXPECT_EQ(points, client["intervals"]["counts"].size()) << capture;
            }
        }
        EXPECT_EQ(canvases, 3 * clients.size()) << capture << ": a plot is missing";
    }
}

}  // namespace
}  // namespace ephemera::test
