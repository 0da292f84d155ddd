"""torch_matmul.py - the peer for bench/gemm.cpp: GFLOP/s of torch.matmul (Debian's torch calls OpenBLAS)
on the shapes given, timed the same way as the C++ side (best of 10 trials of ~0.1 s each).
Usage: /usr/bin/python3 bench/torch_matmul.py THREADS [--bf16] M,N,K,TRANS_A,TRANS_B [...]
--bf16: both operands (and the result) bfloat16, which torch multiplies through oneDNN.
Prints one GFLOP/s figure per shape, one per line, in order. It records nothing itself.
"""
import sys
import time

import torch


def operand(rows, cols, transposed, dtype):
    # A transposed operand is stored (cols, rows) and passed as a .t() view, so BLAS gets a transpose
    # flag rather than a copy - the same memory layout the C++ side gives cpu_gemm.
    if transposed:
        return (torch.rand(cols, rows) * 2 - 1).to(dtype), True
    return (torch.rand(rows, cols) * 2 - 1).to(dtype), False


def gflops(M, N, K, trans_a, trans_b, dtype):
    a, ta = operand(M, K, trans_a, dtype)
    b, tb = operand(K, N, trans_b, dtype)
    a_op = a.t() if ta else a
    b_op = b.t() if tb else b
    c = torch.empty(M, N, dtype=dtype)
    torch.matmul(a_op, b_op, out=c)
    start = time.perf_counter()
    torch.matmul(a_op, b_op, out=c)
    single = max(time.perf_counter() - start, 1e-6)
    reps = max(1, int(0.1 / single) + 1)
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a_op, b_op, out=c)
        best = min(best, (time.perf_counter() - start) / reps)
    return 2.0 * M * N * K / best / 1e9


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: torch_matmul.py THREADS [--bf16] M,N,K,TRANS_A,TRANS_B [...]")
    torch.set_num_threads(int(sys.argv[1]))
    specs = sys.argv[2:]
    dtype = torch.float32
    if specs[0] == "--bf16":
        dtype, specs = torch.bfloat16, specs[1:]
    for spec in specs:
        M, N, K, trans_a, trans_b = (int(x) for x in spec.split(","))
        print(f"{gflops(M, N, K, bool(trans_a), bool(trans_b), dtype):.2f}", flush=True)


if __name__ == "__main__":
    main()
