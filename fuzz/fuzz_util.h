// fuzz_util.h — what the libFuzzer targets share: the loaders under test read files by path, so each
// input is written to one scratch file per process first. Only sapt_error counts as a clean rejection;
// any other exception escapes the target and libFuzzer reports it as a crash, like a sanitizer finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unistd.h>

// A path private to this fuzzing process (libFuzzer -jobs runs several) and to `suffix` (the Catch2 replay
// runs every target in one process: a file of one must not land on another's folder), in /dev/shm when present.
inline const std::string& fuzz_scratch_path(const char* suffix) {
    static std::map<std::string, std::string> paths;
    auto found = paths.find(suffix);
    if (found != paths.end()) return found->second;
    const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/sapt_fuzz_" +
                             std::to_string(getpid()) + suffix;
    return paths.emplace(suffix, path).first->second;
}

// Replaces the scratch file's contents with the input bytes and returns its path.
inline const std::string& fuzz_write_scratch(const uint8_t* data, size_t size, const char* suffix) {
    const std::string& path = fuzz_scratch_path(suffix);
    FILE* file = std::fopen(path.c_str(), "wb");
    if (!file) std::abort();  // the machine, not the input, is broken
    if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
    std::fclose(file);
    return path;
}
