// record.h — appends one benchmark result to bench/results.jsonl, the file every benchmark writes:
// {"name","ours","peer","peer_name","unit","ratio","threads","date"}, ratio > 1 meaning we are better.
// Used by the C++ benchmarks directly and, through bench/record.cpp, by shell sections of bench/run.sh.
// It does not run or time anything.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

// A unit that is a rate ("GFLOP/s", "tokens/s") is better when higher; a duration ("ms") when lower.
inline bool bench_unit_higher_is_better(const std::string& unit) {
    return unit.size() >= 2 && unit.compare(unit.size() - 2, 2, "/s") == 0;
}

inline std::string bench_json_string(const std::string& text) {
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') quoted += '\\';
        if ((unsigned char)c >= 0x20) quoted += c;
    }
    return quoted + "\"";
}

// Appends the record to $SAPT_BENCH_RESULTS (default bench/results.jsonl, relative to the repo root that
// bench/run.sh runs from) and returns the ratio. One line is written with a single append, so records of
// benchmarks that run one after another never interleave; the file is a log, not rewritten.
inline double append_bench_record(const std::string& name, double ours, double peer,
                                  const std::string& peer_name, const std::string& unit, int threads) {
    double ratio = bench_unit_higher_is_better(unit) ? ours / peer : peer / ours;
    char date[32];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    char numbers[160];
    std::snprintf(numbers, sizeof numbers, "\"ours\": %.6g, \"peer\": %.6g", ours, peer);
    char tail[160];
    std::snprintf(tail, sizeof tail, "\"ratio\": %.4f, \"threads\": %d, \"date\": \"%s\"", ratio, threads,
                  date);
    std::string line = "{\"name\": " + bench_json_string(name) + ", " + numbers + ", \"peer_name\": " +
                       bench_json_string(peer_name) + ", \"unit\": " + bench_json_string(unit) + ", " + tail +
                       "}\n";
    const char* env = std::getenv("SAPT_BENCH_RESULTS");
    std::string path = env && *env ? env : "bench/results.jsonl";
    std::FILE* file = std::fopen(path.c_str(), "a");
    if (!file || std::fputs(line.c_str(), file) < 0 || std::fclose(file) != 0) {
        std::fprintf(stderr, "%s: cannot append the benchmark record (check that the folder exists)\n",
                     path.c_str());
        std::exit(1);
    }
    return ratio;
}
