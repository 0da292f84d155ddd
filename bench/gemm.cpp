// gemm.cpp (benchmark) — GFLOP/s of cpu_gemm at 1024^3 and at the T5-small layer shapes of training
// (forward x W^T, input gradient dY W, weight gradient dY^T X), next to torch.matmul (OpenBLAS) timed by
// bench/torch_matmul.py with the same thread count. Then the products of a frozen bf16 weight at bf16
// precision (cpu_gemm_bf16b, GemmPrecision::BF16) next to torch.matmul on bf16 tensors (oneDNN, AVX512-BF16
// here; its C is bf16, ours f32). Appends one record per shape and precision to bench/results.jsonl.
// Usage: build/bench/gemm   (threads = OMP_NUM_THREADS, else every core; run from the repo root)
#include "bench/record.h"
#include "kernels/cpu/gemm.h"
#include "kernels/kernels.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <random>
#include <string>
#include <vector>

struct BenchShape {
    const char* label;
    int M, N, K;
    bool trans_a, trans_b;
};

// T5-small: d_model 512, d_ff 2048; a batch of 2048 tokens (batch x seq). A Linear layer y = x W^T with
// W (out, in) is (trans_b); its input gradient dY W is plain; its weight gradient dY^T X is (trans_a).
const BenchShape kShapes[] = {
    {"square", 1024, 1024, 1024, false, false},
    {"t5_attn_fwd", 2048, 512, 512, false, true},
    {"t5_ff_up_fwd", 2048, 2048, 512, false, true},
    {"t5_ff_down_dx", 2048, 512, 2048, false, false},
    {"t5_attn_dw", 512, 512, 2048, true, false},
    {"t5_ff_up_dw", 2048, 512, 2048, true, false},
};

// The bf16 rows: products whose B is a frozen weight (forward x W^T, input gradient dY W) and the square.
const BenchShape kBf16Shapes[] = {
    {"square", 1024, 1024, 1024, false, false},
    {"t5_attn_fwd", 2048, 512, 512, false, true},
    {"t5_ff_up_fwd", 2048, 2048, 512, false, true},
    {"t5_ff_down_dx", 2048, 512, 2048, false, false},
};

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of 10 trials of ~0.1 s each, the same protocol as torch_matmul.py (the machine may be shared, so
// the best trial is the one least disturbed by others).
// bf16: B is stored in bf16 and the product runs at GemmPrecision::BF16.
double our_gflops(const BenchShape& s, bool in_bf16) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> A((size_t)s.M * s.K), B((size_t)s.K * s.N), C((size_t)s.M * s.N);
    for (float& x : A) x = uniform(rng);
    for (float& x : B) x = uniform(rng);
    std::vector<bf16> B_half(B.size());
    cpu_kernels.f32_to_bf16(B_half.data(), B.data(), B.size());
    int lda = s.trans_a ? s.M : s.K;
    int ldb = s.trans_b ? s.K : s.N;
    cpu_set_gemm_precision(in_bf16 ? GemmPrecision::BF16 : GemmPrecision::F32);
    auto run = [&]() {
        if (in_bf16) {
            cpu_gemm_bf16b(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, A.data(), lda, B_half.data(), ldb, 0.0f,
                           C.data(), s.N);
        } else {
            cpu_gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(),
                     s.N);
        }
    };
    run();
    double start = seconds_now();
    run();
    double single = seconds_now() - start;
    int reps = single > 0.1 ? 1 : (int)(0.1 / (single + 1e-9)) + 1;
    double best = 1e30;
    for (int trial = 0; trial < 10; ++trial) {
        start = seconds_now();
        for (int r = 0; r < reps; ++r) run();
        double per_call = (seconds_now() - start) / reps;
        if (per_call < best) best = per_call;
    }
    cpu_set_gemm_precision(GemmPrecision::F32);
    return 2.0 * s.M * s.N * s.K / best / 1e9;
}

// Runs torch_matmul.py once for every shape (in bf16 when asked) and reads one GFLOP/s figure per line.
std::vector<double> torch_gflops(int threads, const std::vector<BenchShape>& shapes, bool in_bf16) {
    const char* python_env = std::getenv("SAPT_PYTHON");
    std::string command = "OMP_NUM_THREADS=" + std::to_string(threads) + " " +
                          (python_env && *python_env ? python_env : "/usr/bin/python3") +
                          " bench/torch_matmul.py " + std::to_string(threads) + (in_bf16 ? " --bf16" : "");
    for (const BenchShape& s : shapes) {
        command += " " + std::to_string(s.M) + "," + std::to_string(s.N) + "," + std::to_string(s.K) + "," +
                   std::to_string((int)s.trans_a) + "," + std::to_string((int)s.trans_b);
    }
    std::vector<double> results;
    std::FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return results;
    double value;
    while (std::fscanf(pipe, "%lf", &value) == 1) results.push_back(value);
    pclose(pipe);
    return results;
}

// Two rounds, ours then torch each time, keeping each side's best: a burst of load from elsewhere then
// hurts one round of one side, not the comparison. Prints the table and appends the records; false when
// torch gave no figures.
bool compare(const std::vector<BenchShape>& shapes, bool in_bf16, int threads) {
    const int n_shapes = (int)shapes.size();
    std::vector<double> ours(n_shapes, 0.0), peer(n_shapes, 0.0);
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < n_shapes; ++i) ours[i] = std::max(ours[i], our_gflops(shapes[i], in_bf16));
        std::vector<double> torch_round = torch_gflops(threads, shapes, in_bf16);
        if ((int)torch_round.size() != n_shapes) {
            std::fprintf(stderr,
                         "bench/gemm: torch_matmul.py gave %zu figures (expected %d); is torch installed "
                         "for /usr/bin/python3 (or $SAPT_PYTHON)?\n",
                         torch_round.size(), n_shapes);
            return false;
        }
        for (int i = 0; i < n_shapes; ++i) peer[i] = std::max(peer[i], torch_round[i]);
    }
    const char* peer_name = in_bf16 ? "torch.matmul bf16 (oneDNN)" : "torch.matmul (OpenBLAS)";
    std::printf("%s vs %s, %d threads, GFLOP/s\n", in_bf16 ? "cpu_gemm_bf16b at bf16 precision" : "cpu_gemm",
                peer_name, threads);
    std::printf("%-16s %6s %6s %6s  %2s  %8s %8s %6s\n", "shape", "M", "N", "K", "op", "ours", "torch",
                "ratio");
    for (int i = 0; i < n_shapes; ++i) {
        const BenchShape& s = shapes[i];
        std::string op = std::string(s.trans_a ? "t" : "n") + (s.trans_b ? "t" : "n");
        std::string name = std::string(in_bf16 ? "gemm_bf16_" : "gemm_") + s.label + "_" + std::to_string(s.M) + "x" +
                           std::to_string(s.N) + "x" + std::to_string(s.K) + "_" + op;
        double ratio = append_bench_record(name, ours[i], peer[i], peer_name, "GFLOP/s", threads);
        std::printf("%-16s %6d %6d %6d  %2s  %8.1f %8.1f %6.3f\n", s.label, s.M, s.N, s.K, op.c_str(),
                    ours[i], peer[i], ratio);
    }
    return true;
}

int main() {
    int threads = omp_get_max_threads();
    std::vector<BenchShape> f32_shapes(std::begin(kShapes), std::end(kShapes));
    std::vector<BenchShape> bf16_shapes(std::begin(kBf16Shapes), std::end(kBf16Shapes));
    if (!compare(f32_shapes, false, threads)) return 1;
    std::printf("\n");
    return compare(bf16_shapes, true, threads) ? 0 : 1;
}
