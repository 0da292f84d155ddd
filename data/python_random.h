// python_random.h — Python's `random` module generator (MT19937, seeded like random.seed(int)) and the one
// draw SAPT's loader makes with it: random.randint(0, n-1) to pick one of several reference outputs.
// Reproducing CPython exactly lets compat_official pick the same label the official loader picks after
// random.seed(42). Not here: random.random(), shuffle, or seeding from strings/bytes.
#pragma once
#include <cstdint>

struct PythonRandom {
    uint32_t state[624];
    int next = 624;  // index of the next word to hand out; 624 = regenerate first
};

// random.seed(seed) for a non-negative integer: init_by_array over the 32-bit words of the seed.
PythonRandom python_random_seeded(uint64_t seed);
// One 32-bit output (CPython's genrand_uint32).
uint32_t python_random_uint32(PythonRandom& rng);
// random.getrandbits(k) for 1 <= k <= 32: the top k bits of one output.
uint32_t python_getrandbits(PythonRandom& rng, int k);
// random.randint(a, b), a <= b, b - a < 2^32 - 1. Rejection sampling on k = bit_length(b - a + 1) bits,
// as CPython 3.11's _randbelow_with_getrandbits does, so randint(0, 0) still consumes a draw.
int64_t python_randint(PythonRandom& rng, int64_t a, int64_t b);
