#include "report_files.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "run.hpp"

namespace ephemera::test {
namespace {

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    std::string field;
    while (std::getline(stream, field, ',')) fields.push_back(field);
    return fields;
}

}  // namespace

nlohmann::json analyze_sample_json(const std::string& file, std::vector<std::string> extra) {
    std::vector<std::string> args = {"analyze", "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(sample(file).string());
    const RunResult result = run_ephemera(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out);
}

std::vector<Conversation> read_truth(const std::string& sample_name) {
    std::ifstream in(sample(sample_name + ".truth.jsonl"));
    std::vector<Conversation> truth;
    std::string line;
    while (std::getline(in, line)) {
        const auto entry = nlohmann::json::parse(line);
        // Attempts that failed before their socket had a port (EADDRNOTAVAIL sends nothing; a
        // refused or unanswered connect() gives its port back) have no client endpoint.
        if (entry["client"].is_null()) continue;
        truth.emplace_back(entry["protocol"], entry["client"], entry["client_port"],
                           entry["server"], entry["server_port"]);
    }
    return truth;
}

std::vector<CsvRow> read_csv(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<CsvRow> rows;
    if (!std::getline(in, line)) return rows;
    const std::vector<std::string> header = split(line);
    while (std::getline(in, line)) {
        const std::vector<std::string> fields = split(line);
        CsvRow row;
        for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) {
            row[header[i]] = fields[i];
        }
        rows.push_back(row);
    }
    return rows;
}

Conversation conversation_of(const CsvRow& row) {
    return {row.at("protocol"), row.at("client"), std::stoi(row.at("client_port")),
            row.at("server"), std::stoi(row.at("server_port"))};
}

}  // namespace ephemera::test
