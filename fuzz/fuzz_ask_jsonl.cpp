// fuzz_ask_jsonl.cpp — the libFuzzer entry point of fuzz_ask_jsonl (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_ask_jsonl(data, size);
    return 0;
}
