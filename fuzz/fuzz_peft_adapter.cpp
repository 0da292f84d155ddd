// fuzz_peft_adapter.cpp — the libFuzzer entry point of fuzz_peft_adapter (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_peft_adapter(data, size);
    return 0;
}
