// Every report validates against docs/report.schema.json (JSON Schema draft 2020-12), checked by
// a real validator: Debian's python3-jsonschema. The schema forbids keys it does not name, so a
// key renamed or added without the schema fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "run.hpp"

namespace ephemera::test {
namespace {

constexpr const char* validator = R"py(
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
check = jsonschema.Draft202012Validator(schema)
failed = 0
for path in sys.argv[2:]:
    for line in open(path) if path.endswith('.jsonl') else [open(path).read()]:
        if not line.strip():
            continue
        for error in check.iter_errors(json.loads(line)):
            failed += 1
            print(path, '/'.join(map(str, error.absolute_path)), error.message[:200])
sys.exit(1 if failed else 0)
)py";

bool have_jsonschema() {
    return run({"python3", "-c", "import jsonschema"}).exit_code == 0;
}

std::string schema_path() {
    return (source_dir() / "docs" / "report.schema.json").string();
}

// Writes ephemera's report of `args` to `out`; false if the run failed.
bool report_to(const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> full = {"analyze", "--format", "json"};
    full.insert(full.end(), args.begin(), args.end());
    const RunResult result = run_ephemera(full);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::ofstream(out) << result.out;
    return result.exit_code == 0;
}

TEST(Schema, EverySamplesReportValidates) {
    if (!have_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed (scripts/setup)";
    TempDir temp;
    std::vector<std::string> command = {"python3", "-c", validator, schema_path()};
    std::size_t reports = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "pcaps")) {
        const std::string name = entry.path().filename();
        if (entry.path().extension() != ".pcap" && entry.path().extension() != ".pcapng") continue;
        const std::string out = temp.file(name + ".json");
        if (report_to({entry.path().string()}, out)) command.push_back(out);
        ++reports;
    }
    // The keys that appear only sometimes: a configured range, an empty capture, a scan.
    const std::string exhausted = sample("exhausted.pcap").string();
    for (const auto& [name, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"configured", {"--range", "50000-50010", exhausted}},
             {"empty", {"--filter", "udp port 9", exhausted}}}) {
        if (report_to(args, temp.file(name + ".json")))
            command.push_back(temp.file(name + ".json"));
    }
    ASSERT_EQ(run_generator({"scan", temp.file("scan.pcap")}).exit_code, 0);
    if (report_to({temp.file("scan.pcap")}, temp.file("scan.json"))) {
        command.push_back(temp.file("scan.json"));
    }
    EXPECT_GE(reports, 20u);
    const RunResult checked = run(command);
    EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
}

// What the schema forbids, it catches: the validator is not a rubber stamp.
TEST(Schema, ARenamedKeyFails) {
    if (!have_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed (scripts/setup)";
    TempDir temp;
    const RunResult result =
        run_ephemera({"analyze", "--format", "json", sample("exhausted.pcap").string()});
    ASSERT_EQ(result.exit_code, 0);
    std::string renamed = result.out;
    renamed.replace(renamed.find("\"services\": ["), 10, "\"servers\"");
    std::ofstream(temp.file("renamed.json")) << renamed;
    const RunResult checked =
        run({"python3", "-c", validator, schema_path(), temp.file("renamed.json")});
    EXPECT_EQ(checked.exit_code, 1) << checked.out << checked.err;
    EXPECT_NE(checked.out.find("servers"), std::string::npos) << checked.out;
}

}  // namespace
}  // namespace ephemera::test
