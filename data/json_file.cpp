// json_file.cpp — see json_file.h.
#include "data/json_file.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "data/python_text.h"
#include "engine/error.h"

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool directory_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

nlohmann::json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open file (expected a readable JSON file)");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string bytes = buffer.str();
    size_t bad = first_invalid_utf8_offset(bytes);
    if (bad != bytes.size()) {
        fail(path, "not UTF-8 text (expected UTF-8, got an invalid byte at offset " + std::to_string(bad) + ")");
    }
    try {
        return nlohmann::json::parse(bytes);
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("not valid JSON (") + e.what() + ")");
    }
}
