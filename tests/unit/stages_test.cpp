// The pipeline's stages as the tree shows them (CMakeLists.txt: one library per folder): a file of
// one stage includes the project's headers of that stage and the stages below it only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace {

// Each stage and the stages it may include, itself among them.
const std::map<std::string, std::set<std::string>> allowed_includes = {
    {"core", {"core"}},
    {"decode", {"decode", "core"}},
    {"capture", {"capture", "core"}},
    {"track", {"track", "decode", "capture", "core"}},
    {"analysis", {"analysis", "track", "decode", "capture", "core"}},
    {"report", {"report", "analysis", "track", "decode", "capture", "core"}},
    {"app", {"app", "report", "analysis", "track", "decode", "capture", "core"}},
};

TEST(Stages, EachStageIncludesOnlyItselfAndTheStagesBelow) {
    const std::filesystem::path root(EPHEMERA_SOURCE_DIR);
    const std::regex project_include(R"re(#include "ephemera/([a-z_]+)/)re");
    std::size_t files = 0;
    for (const auto& [stage, allowed] : allowed_includes) {
        for (const auto* folder : {"src", "include/ephemera"}) {
            const std::filesystem::path directory = root / folder / stage;
            ASSERT_TRUE(std::filesystem::is_directory(directory)) << directory;
            for (const auto& entry : std::filesystem::directory_iterator(directory)) {
                std::ifstream file(entry.path());
                std::string line;
                ++files;
                while (std::getline(file, line)) {
                    std::smatch match;
                    if (!std::regex_search(line, match, project_include)) continue;
                    EXPECT_TRUE(allowed.count(match[1].str()) == 1)
                        << entry.path() << " (" << stage << ") includes " << match[1].str();
                }
            }
        }
    }
    EXPECT_GT(files, 40u);
}

}  // namespace
