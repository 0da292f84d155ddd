// record.cpp — the command-line face of bench/record.h, for benchmark sections written in shell:
//   build/bench/record NAME OURS PEER PEER_NAME UNIT THREADS
// appends one JSON line to bench/results.jsonl and prints it in words. It measures nothing itself.
#include "bench/record.h"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr,
                     "usage: %s NAME OURS PEER PEER_NAME UNIT THREADS (expected 6 arguments, got %d)\n",
                     argv[0], argc - 1);
        return 2;
    }
    char* end = nullptr;
    double ours = std::strtod(argv[2], &end);
    bool ours_ok = *end == '\0';
    double peer = std::strtod(argv[3], &end);
    bool peer_ok = *end == '\0';
    int threads = std::atoi(argv[6]);
    if (!ours_ok || !peer_ok || !(ours > 0) || !(peer > 0) || threads < 1) {
        std::fprintf(stderr,
                     "record: OURS and PEER must be positive numbers and THREADS >= 1 (got %s %s %s)\n",
                     argv[2], argv[3], argv[6]);
        return 2;
    }
    double ratio = append_bench_record(argv[1], ours, peer, argv[4], argv[5], threads);
    std::printf("%s: ours %g, %s %g %s, ratio %.3f\n", argv[1], ours, argv[4], peer, argv[5], ratio);
    return 0;
}
