// fuzz_model_proto.cpp — the libFuzzer entry point of fuzz_model_proto (the body and what it checks: fuzz_targets.h).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_model_proto(data, size);
    return 0;
}
