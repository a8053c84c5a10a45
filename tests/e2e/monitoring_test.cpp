// The monitoring files shipped with ephemera, checked by the tools that will read them:
// Prometheus's promtool checks the rules and runs their unit tests (every alert fires for the
// series it names, only after its `for`, with the words on call will read); systemd-analyze
// verifies the service unit.
#include <gtest/gtest.h>

#include <fstream>

#include "run.hpp"

namespace ephemera::test {
namespace {

std::filesystem::path prometheus_dir() {
    return source_dir() / "monitoring" / "prometheus";
}

TEST(Monitoring, PrometheusRulesPassPromtoolsCheckAndTheirUnitTests) {
    if (!have_program("promtool")) {
        GTEST_SKIP() << "promtool is not installed (Debian's prometheus package; scripts/setup)";
    }
    const RunResult check =
        run({"promtool", "check", "rules", (prometheus_dir() / "ephemera.rules.yml").string()});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    EXPECT_NE(check.out.find("SUCCESS: 9 rules found"), std::string::npos) << check.out;
    // promtool resolves rule_files relative to the test file's directory.
    const RunResult unit = run({"promtool", "test", "rules", "ephemera.rules.test.yml"},
                               "/dev/null", 60, prometheus_dir().string());
    EXPECT_EQ(unit.exit_code, 0) << unit.out << unit.err;
    EXPECT_NE(unit.out.find("SUCCESS"), std::string::npos) << unit.out;
}

// The systemd unit: systemd-analyze verify finds nothing to say about it (an unknown directive,
// a missing binary, a bad capability all make it speak), with the unit pointing at the built
// binary; and the options it starts live with are live's.
TEST(Monitoring, SystemdUnitVerifies) {
    if (!have_program("systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
    TempDir temp;
    std::string unit =
        read_file(source_dir() / "monitoring" / "systemd" / "ephemera-live@.service");
    const std::string installed = "/usr/local/bin/ephemera";
    const std::size_t at = unit.find("ExecStart=" + installed);
    ASSERT_NE(at, std::string::npos);
    unit.replace(at + 10, installed.size(), EPHEMERA_BINARY);
    std::ofstream(temp.file("ephemera-live@.service")) << unit;
    const RunResult verify =
        run({"systemd-analyze", "verify", temp.file("ephemera-live@lo.service")});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_EQ(verify.err, "");
    EXPECT_EQ(verify.out, "");

    const std::string help = run_ephemera({"live", "--help"}).out;
    for (const char* option : {"--format", "--reopen", "--metrics-listen"}) {
        EXPECT_NE(help.find(option), std::string::npos) << option;
    }
}

}  // namespace
}  // namespace ephemera::test
