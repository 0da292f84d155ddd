// cuda_emulator.cpp — runs CUDA kernels on the CPU (build with -DSAPT_CUDA_EMU; see cuda_primitives.h).
// Each thread of a block is a fiber (ucontext: its own stack, switched cooperatively). A small scheduler
// resumes every runnable fiber in turn, in an order that flips between rounds (a GPU guarantees none); a
// fiber runs until it finishes or waits at a barrier, which opens once every unfinished thread of its warp
// (or block) waits there. Deterministic, single-threaded; a barrier that can never open is reported.
// Not here: timing, concurrency between blocks, memory-model subtleties (everything is coherent).
#include "kernels/cuda/cuda_primitives.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <ucontext.h>
#include <vector>

#include "engine/error.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

enum class FiberState { Runnable, AtWarpBarrier, AtBlockBarrier, Finished };

struct Fiber {
    ucontext_t context;
    FiberState state = FiberState::Runnable;
    dim3 index;                  // threadIdx of this fiber
    int warp = 0, lane = 0;      // linear thread id / 32 and % 32
    unsigned exchanges = 0;      // warp exchanges done so far: picks one of two mailbox halves
};

const size_t kStackBytes = 128 * 1024;  // per thread; kernels keep only small arrays on the stack
const int kMaxThreadsPerBlock = 1024;

std::vector<Fiber> fibers;
// Kept across launches. new char[] leaves the bytes untouched, so the OS maps only the pages used.
std::vector<std::unique_ptr<char[]>> stacks;
ucontext_t scheduler_context;
int running = -1;                          // index of the fiber now executing
const std::function<void()>* kernel_body;  // what every fiber runs
std::vector<float> dynamic_shared;         // the block's dynamic shared memory
// Warp mailboxes, double-buffered: exchange n uses half n % 2, so a fast lane starting exchange n + 1
// cannot overwrite a value a slow lane has yet to read from exchange n (it would first have to pass
// the barrier of exchange n + 1, which the slow lane has not reached).
uint64_t mailbox[2][kMaxThreadsPerBlock];

void fiber_main() {
    (*kernel_body)();
    fibers[running].state = FiberState::Finished;
    // returning resumes uc_link, the scheduler
}

void wait_at(FiberState barrier) {
    Fiber& self = fibers[running];
    self.state = barrier;
    swapcontext(&self.context, &scheduler_context);
}

// Opens warp barriers whose every unfinished lane waits, then the block barrier if every unfinished
// thread waits there. Returns false when nothing could run any more (a deadlock).
bool open_barriers(int n_threads) {
    bool any_runnable = false;
    int n_warps = (n_threads + 31) / 32;
    for (int w = 0; w < n_warps; w++) {
        bool all_waiting = true, any_waiting = false;
        for (int t = w * 32; t < n_threads && t < (w + 1) * 32; t++) {
            FiberState s = fibers[t].state;
            if (s == FiberState::AtWarpBarrier) any_waiting = true;
            else if (s != FiberState::Finished) all_waiting = false;
        }
        if (any_waiting && all_waiting) {
            for (int t = w * 32; t < n_threads && t < (w + 1) * 32; t++)
                if (fibers[t].state == FiberState::AtWarpBarrier) fibers[t].state = FiberState::Runnable;
            any_runnable = true;
        }
    }
    if (any_runnable) return true;
    bool all_at_block = true, any_at_block = false;
    for (int t = 0; t < n_threads; t++) {
        FiberState s = fibers[t].state;
        if (s == FiberState::AtBlockBarrier) any_at_block = true;
        else if (s != FiberState::Finished) all_at_block = false;
    }
    if (!any_at_block || !all_at_block) return false;
    for (int t = 0; t < n_threads; t++)
        if (fibers[t].state == FiberState::AtBlockBarrier) fibers[t].state = FiberState::Runnable;
    return true;
}

void run_block(int n_threads) {
    for (int t = 0; t < n_threads; t++) {
        Fiber& f = fibers[t];
        f.state = FiberState::Runnable;
        f.exchanges = 0;
        f.index = dim3(t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y));
        f.warp = t / 32;
        f.lane = t % 32;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = stacks[t].get();
        f.context.uc_stack.ss_size = kStackBytes;
        f.context.uc_link = &scheduler_context;
        makecontext(&f.context, fiber_main, 0);
    }
    // A GPU promises no order among the threads of a block between barriers. Running them in one fixed
    // order would hide a missing barrier (thread i reading what thread i - 1 wrote works if i - 1 always runs
    // first), so the order flips with every block and every round between barriers.
    bool backwards = (blockIdx.x + blockIdx.y + blockIdx.z) % 2 == 1;
    int finished = 0;
    while (finished < n_threads) {
        for (int i = 0; i < n_threads; i++) {
            int t = backwards ? n_threads - 1 - i : i;
            if (fibers[t].state != FiberState::Runnable) continue;
            running = t;
            threadIdx = fibers[t].index;
            swapcontext(&scheduler_context, &fibers[t].context);
            if (fibers[t].state == FiberState::Finished) finished++;
        }
        backwards = !backwards;
        if (finished < n_threads && !open_barriers(n_threads)) {
            fail("cuda emulator", "block (" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) +
                 ", " + std::to_string(blockIdx.z) + ") deadlocked: __syncthreads or a warp primitive was "
                 "reached by only some of the threads that must meet there");
        }
    }
    running = -1;
}

}  // namespace

void __syncthreads() { wait_at(FiberState::AtBlockBarrier); }
void __syncwarp(unsigned) { wait_at(FiberState::AtWarpBarrier); }

uint64_t emu_warp_exchange(uint64_t mine, int source) {
    Fiber& self = fibers[running];
    int half = self.exchanges++ % 2;
    int warp_base = self.warp * 32;
    mailbox[half][warp_base + self.lane] = mine;
    wait_at(FiberState::AtWarpBarrier);
    int n_threads = int(blockDim.x * blockDim.y * blockDim.z);
    if (source < 0 || source >= 32 || warp_base + source >= n_threads) return mine;
    return mailbox[half][warp_base + source];
}

unsigned emu_warp_gather_bits(bool mine) {
    Fiber& self = fibers[running];
    int half = self.exchanges++ % 2;
    int warp_base = self.warp * 32;
    mailbox[half][warp_base + self.lane] = mine ? 1 : 0;
    wait_at(FiberState::AtWarpBarrier);
    int n_threads = int(blockDim.x * blockDim.y * blockDim.z);
    unsigned bits = 0;
    for (int lane = 0; lane < 32 && warp_base + lane < n_threads; lane++)
        if (mailbox[half][warp_base + lane]) bits |= 1u << lane;
    return bits;
}

float* dynamic_shared_floats() { return dynamic_shared.data(); }

void emu_run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body) {
    int n_threads = int(block.x * block.y * block.z);
    if (n_threads < 1 || n_threads > kMaxThreadsPerBlock) {
        fail("cuda emulator", "block of " + std::to_string(n_threads) + " threads (expected 1 to 1024)");
    }
    if (int(fibers.size()) < n_threads) fibers.resize(n_threads);
    while (int(stacks.size()) < n_threads) stacks.emplace_back(new char[kStackBytes]);
    // On a GPU shared memory starts with whatever the previous block left: NaN makes a kernel that reads
    // before it writes fail its test here instead of passing on zeros.
    dynamic_shared.assign((shared_bytes + sizeof(float) - 1) / sizeof(float), NAN);
    kernel_body = &body;
    gridDim = grid;
    blockDim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = dim3(x, y, z);
                run_block(n_threads);
            }
}

// ---- the runtime calls, over host memory -----------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    *ptr = std::malloc(bytes == 0 ? 1 : bytes);
    return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* ptr) {
    std::free(ptr);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
    if (bytes) std::memset(dst, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaGetLastError() { return cudaSuccess; }
const char* cudaGetErrorString(cudaError_t status) {
    return status == cudaSuccess ? "no error" : "out of memory";
}
cudaStream_t cuda_stream() { return nullptr; }
void cuda_check(cudaError_t status, const char* file, int line) {
    if (status == cudaSuccess) return;
    fail(std::string(file) + ":" + std::to_string(line), std::string("CUDA (emulated) error: ") +
         cudaGetErrorString(status));
}
