// The sample captures in pcaps/ (made by scripts/capture-samples), for tests that hold a property
// on every one of them.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace ephemera {

// Every .pcap and .pcapng file in pcaps/, by name.
inline std::vector<std::string> sample_captures() {
    std::vector<std::string> paths;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(EPHEMERA_SOURCE_DIR) + "/pcaps")) {
        const std::string name = entry.path().filename().string();
        if (name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            paths.push_back(entry.path().string());
        }
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

}  // namespace ephemera
