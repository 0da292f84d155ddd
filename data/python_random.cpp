// python_random.cpp — see python_random.h. MT19937 as in Matsumoto & Nishimura's reference code
// (init_genrand, init_by_array, genrand_int32), which CPython's _randommodule.c follows.
#include "data/python_random.h"

#include <string>

#include "engine/error.h"

static void init_genrand(PythonRandom& rng, uint32_t seed) {
    rng.state[0] = seed;
    for (int i = 1; i < 624; i++) {
        rng.state[i] = 1812433253u * (rng.state[i - 1] ^ (rng.state[i - 1] >> 30)) + (uint32_t)i;
    }
    rng.next = 624;
}

PythonRandom python_random_seeded(uint64_t seed) {
    // CPython splits abs(seed) into little-endian 32-bit words; 0 is the one-word key [0].
    uint32_t key[2] = {(uint32_t)(seed & 0xFFFFFFFFu), (uint32_t)(seed >> 32)};
    int key_length = key[1] != 0 ? 2 : 1;
    PythonRandom rng;
    init_genrand(rng, 19650218u);
    uint32_t* mt = rng.state;
    int i = 1, j = 0;
    for (int k = 624 > key_length ? 624 : key_length; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
        if (j >= key_length) j = 0;
    }
    for (int k = 623; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
    }
    mt[0] = 0x80000000u;  // guarantees a non-zero state
    rng.next = 624;
    return rng;
}

static void regenerate(PythonRandom& rng) {
    uint32_t* mt = rng.state;
    for (int i = 0; i < 624; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[(i + 1) % 624] & 0x7FFFFFFFu);
        mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908B0DFu : 0u);
    }
    rng.next = 0;
}

uint32_t python_random_uint32(PythonRandom& rng) {
    if (rng.next >= 624) regenerate(rng);
    uint32_t y = rng.state[rng.next++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= (y >> 18);
    return y;
}

uint32_t python_getrandbits(PythonRandom& rng, int k) {
    if (k < 1 || k > 32) fail("python_getrandbits", "bit count out of range (expected 1..32, got " + std::to_string(k) + ")");
    return python_random_uint32(rng) >> (32 - k);
}

int64_t python_randint(PythonRandom& rng, int64_t a, int64_t b) {
    if (b < a || (uint64_t)(b - a) >= 0xFFFFFFFFu) {
        fail("python_randint", "range out of bounds (expected a <= b < a + 2^32 - 1, got a=" + std::to_string(a) +
                                   ", b=" + std::to_string(b) + ")");
    }
    uint64_t n = (uint64_t)(b - a) + 1;
    int k = 0;
    while ((n >> k) != 0) k++;  // n.bit_length()
    uint64_t r = python_getrandbits(rng, k);
    while (r >= n) r = python_getrandbits(rng, k);
    return a + (int64_t)r;
}
