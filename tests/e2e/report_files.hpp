// Reading what ephemera writes (CSV, JSON) and what scripts/capture-samples recorded (truth).
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace ephemera::test {

// One connection as (protocol, client, client port, server, server port).
using Conversation = std::tuple<std::string, std::string, int, std::string, int>;

// NAME.truth.jsonl: what the client programs saw of their own sockets, for every connection
// that had a local port.
std::vector<Conversation> read_truth(const std::string& sample_name);

// `ephemera analyze --format json EXTRA... pcaps/FILE`'s report; a failed run fails the test.
nlohmann::json analyze_sample_json(const std::string& file, std::vector<std::string> extra = {});

using CsvRow = std::map<std::string, std::string>;
std::vector<CsvRow> read_csv(const std::string& path);
Conversation conversation_of(const CsvRow& row);

}  // namespace ephemera::test
