// The monitoring files shipped with ephemera, checked by the tools that will read them:
// Prometheus's promtool checks the rules and runs their unit tests (every alert fires for the
// series it names, only after its `for`, with the words on call will read).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ephemera::test
