// fuzz_llama2c.cpp — the libFuzzer entry point of fuzz_llama2c (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_llama2c(data, size);
    return 0;
}
