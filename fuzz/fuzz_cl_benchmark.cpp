// fuzz_cl_benchmark.cpp — the libFuzzer entry point of fuzz_cl_benchmark (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_cl_benchmark(data, size);
    return 0;
}
