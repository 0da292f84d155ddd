// fuzz_run_settings.cpp — the libFuzzer entry point of fuzz_run_settings (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_run_settings(data, size);
    return 0;
}
