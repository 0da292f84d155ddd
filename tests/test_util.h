// test_util.h — what several test files share: where ../shared is, and how a test that needs it skips.
// Tests that read ../shared call shared_path("docs") etc. and skip (with a printed reason) when it is
// missing — unless SAPT_REQUIRE_SHARED=1 (set by .ci/run), where a missing ../shared fails the test.
#pragma once
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

inline std::string shared_root() {
    const char* env = std::getenv("SAPT_SHARED");
    return env && *env ? std::string(env) : std::string("../shared");
}

inline bool path_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

// Returns the full path of `relative` under the shared folder, or "" after reporting a skip.
// Under SAPT_REQUIRE_SHARED=1 a missing path is a test failure instead.
inline std::string shared_path(const std::string& relative) {
    std::string path = shared_root() + "/" + relative;
    if (path_exists(path)) return path;
    const char* require = std::getenv("SAPT_REQUIRE_SHARED");
    if (require && std::string(require) == "1") {
        FAIL("required shared file missing: " << path << " (set SAPT_SHARED to the shared folder)");
    }
    WARN("SKIPPED: " << path << " not found (set SAPT_SHARED to the shared folder to run this test)");
    return "";
}
