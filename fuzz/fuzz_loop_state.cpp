// fuzz_loop_state.cpp — the libFuzzer entry point of fuzz_loop_state (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_loop_state(data, size);
    return 0;
}
