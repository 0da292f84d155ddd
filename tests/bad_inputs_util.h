// bad_inputs_util.h — what the bad-input catalogue (test_bad_inputs*.cpp) shares: a fresh scratch folder per
// case, writing files byte for byte, and a snapshot of a folder's files to prove a failed run changed nothing.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

#include "engine/fileio.h"

// /tmp/sapt_bad_inputs_<pid>/<name>, empty.
inline std::string bad_inputs_dir(const std::string& name) {
    const std::string dir = "/tmp/sapt_bad_inputs_" + std::to_string(getpid()) + "/" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    atomic_write_file(path, bytes);
}

// Every regular file under `dir` (recursively) with its bytes.
inline std::map<std::string, std::string> snapshot_files(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file()) files[entry.path().string()] = read_file(entry.path().string());
    }
    return files;
}
