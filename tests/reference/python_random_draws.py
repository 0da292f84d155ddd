# python_random_draws.py — writes tests/fixtures/data/python_random_draws.json: raw getrandbits(32) words
# and random.randint(0, n-1) sequences from CPython's `random` after random.seed(seed), for
# tests/test_data.cpp (data/python_random.cpp must reproduce them exactly).
# Run from the repo root with /usr/bin/python3 (it records the Python version it ran under).
import json
import random
import sys

cases = []
for seed in [0, 1, 42, 2**32 + 5]:
    random.seed(seed)
    words = [random.getrandbits(32) for _ in range(8)]
    random.seed(seed)
    sizes = [1, 2, 3, 1, 5, 6, 1000, 2, 1, 4] * 70  # > 624 words, so the state is regenerated
    draws = [random.randint(0, n - 1) for n in sizes]
    cases.append({"seed": seed, "getrandbits32": words, "sizes": sizes, "randint_0_n_minus_1": draws})

out = {"python": sys.version.split()[0], "cases": cases}
with open("tests/fixtures/data/python_random_draws.json", "w") as f:
    json.dump(out, f)
    f.write("\n")
