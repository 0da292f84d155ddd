// check_run.cpp — the file checks of tests/reliability/kill_resume.sh, with the library's own readers:
//   check_run DIR...            every file under DIR must be whole: no "*.tmp" left by a killed write, every
//                               .json parses, every line of every .jsonl parses, every .safetensors opens and
//                               each of its tensors reads back (a loop checkpoint's loop.state parses too),
//                               every .model loads as a tokenizer.
//   check_run --same-json A B   the two JSON files are equal once every "seconds" field (wall time, the one
//                               thing a killed-and-resumed run may not share with an uninterrupted one) is
//                               removed; prints whether the raw files are byte-identical as well.
// Exit status 0 when all is well, 1 with one line per problem otherwise. Not here: killing or resuming.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "sapt/checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

struct Counts {
    int json = 0, jsonl_lines = 0, safetensors = 0, tensors = 0, loop_states = 0, models = 0, other = 0;
    std::vector<std::string> problems;
};

static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

static void check_file(const std::string& path, Counts& counts) {
    try {
        if (ends_with(path, ".tmp")) {
            counts.problems.push_back(path + ": temporary file left behind by an interrupted write");
        } else if (ends_with(path, ".jsonl")) {
            const std::string text = read_file(path);
            if (!text.empty() && text.back() != '\n') counts.problems.push_back(path + ": last line is cut (no newline)");
            size_t start = 0;
            int line = 0;
            while (start < text.size()) {
                size_t end = text.find('\n', start);
                if (end == std::string::npos) end = text.size();
                line++;
                if (!nlohmann::json::accept(text.substr(start, end - start))) {
                    counts.problems.push_back(path + ": line " + std::to_string(line) + " is not JSON");
                }
                counts.jsonl_lines++;
                start = end + 1;
            }
        } else if (ends_with(path, ".json")) {
            if (!nlohmann::json::accept(read_file(path))) counts.problems.push_back(path + ": not valid JSON");
            counts.json++;
        } else if (ends_with(path, ".safetensors")) {
            SafeTensorsFile file = safetensors_open(path);
            for (const std::string& name : file.names()) {
                volatile float sum = 0;
                for (float v : tensor_values(file.get(name))) sum = sum + v;  // every byte read back
                counts.tensors++;
            }
            auto state = file.metadata.find("loop.state");
            if (state != file.metadata.end()) {
                loop_state_from_json(state->second, path);
                counts.loop_states++;
            }
            counts.safetensors++;
        } else if (ends_with(path, ".model")) {
            load_tokenizer(path);
            counts.models++;
        } else {
            counts.other++;
        }
    } catch (const std::exception& e) {
        counts.problems.push_back(path + ": " + e.what());
    }
}

// A JSON value without its "seconds" fields, at any depth.
static nlohmann::json without_seconds(nlohmann::json j) {
    if (j.is_object()) {
        j.erase("seconds");
        for (auto& entry : j.items()) entry.value() = without_seconds(entry.value());
    } else if (j.is_array()) {
        for (auto& v : j) v = without_seconds(v);
    }
    return j;
}

static int same_json(const std::string& a, const std::string& b) {
    try {
        const std::string text_a = read_file(a), text_b = read_file(b);
        const bool same = without_seconds(nlohmann::json::parse(text_a)) == without_seconds(nlohmann::json::parse(text_b));
        std::printf("%s vs %s: %s without \"seconds\"; raw bytes %s\n", a.c_str(), b.c_str(),
                    same ? "identical" : "DIFFERENT", text_a == text_b ? "identical" : "differ");
        return same ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("problem: %s\n", e.what());
        return 1;
    }
}

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--same-json") return same_json(argv[2], argv[3]);
    if (argc < 2) {
        std::fprintf(stderr, "usage: check_run DIR...  |  check_run --same-json A.json B.json\n");
        return 2;
    }
    Counts counts;
    for (int i = 1; i < argc; i++) {
        if (!fs::is_directory(argv[i])) {
            counts.problems.push_back(std::string(argv[i]) + ": not a directory");
            continue;
        }
        for (const auto& entry : fs::recursive_directory_iterator(argv[i])) {
            if (entry.is_regular_file()) check_file(entry.path().string(), counts);
        }
    }
    std::printf("checked: %d .json, %d .jsonl lines, %d .safetensors (%d tensors, %d loop states), %d .model, "
                "%d other files; %zu problems\n", counts.json, counts.jsonl_lines, counts.safetensors, counts.tensors,
                counts.loop_states, counts.models, counts.other, counts.problems.size());
    for (const std::string& p : counts.problems) std::printf("problem: %s\n", p.c_str());
    return counts.problems.empty() ? 0 : 1;
}
