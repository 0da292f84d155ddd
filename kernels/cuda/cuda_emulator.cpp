// cuda_emulator.cpp — runs CUDA kernels on the CPU (build with -DSAPT_CUDA_EMU; see cuda_primitives.h).
// Each thread of a block is a fiber (its own stack, switched cooperatively). A small scheduler
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

#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <unordered_map>

#include "engine/error.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

enum class FiberState { Runnable, AtWarpBarrier, AtBlockBarrier, Finished };

// ---- switching stacks ----------------------------------------------------------------------------------
// glibc's swapcontext makes a system call (the signal mask) on every switch, and a kernel of a million
// threads switches millions of times: on x86-64 we switch ourselves, saving only what the calling
// convention asks a function to preserve. Elsewhere, ucontext.
#if defined(__x86_64__)
// Pushes the callee-saved registers on the current stack, stores its pointer in *save_sp, moves to
// load_sp and pops that stack's registers; `ret` then resumes wherever that stack switched away.
extern "C" void emu_switch_stack(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl emu_switch_stack
    .type emu_switch_stack, @function
emu_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_stack, .-emu_switch_stack
)");
struct FiberContext {
    void* sp = nullptr;
};
#else
struct FiberContext {
    ucontext_t context;
};
#endif

struct Fiber {
    FiberContext context;
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
FiberContext scheduler_context;
int running = -1;                          // index of the fiber now executing
const std::function<void()>* kernel_body;  // what every fiber runs
std::vector<float> dynamic_shared;         // the block's dynamic shared memory
// Warp mailboxes, double-buffered: exchange n uses half n % 2, so a fast lane starting exchange n + 1
// cannot overwrite a value a slow lane has yet to read from exchange n (it would first have to pass
// the barrier of exchange n + 1, which the slow lane has not reached).
uint64_t mailbox[2][kMaxThreadsPerBlock];

void switch_to(FiberContext& save, FiberContext& load) {
#if defined(__x86_64__)
    emu_switch_stack(&save.sp, load.sp);
#else
    swapcontext(&save.context, &load.context);
#endif
}

void fiber_main() {
    (*kernel_body)();
    fibers[running].state = FiberState::Finished;
    switch_to(fibers[running].context, scheduler_context);  // never resumed: the next block starts afresh
}

// A fresh fiber on `stack` that starts in fiber_main at its first switch.
void start_fiber(Fiber& f, char* stack) {
#if defined(__x86_64__)
    // From the top (16-byte aligned): a null return address for fiber_main (it never returns), the
    // address `ret` jumps to, six zero registers for emu_switch_stack to pop. After the `ret`, rsp is
    // 8 below a 16-byte boundary, as at any function's entry.
    uintptr_t top = (uintptr_t)(stack + kStackBytes) & ~uintptr_t(15);
    void** sp = (void**)top;
    *--sp = nullptr;
    *--sp = (void*)&fiber_main;
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f.context.sp = sp;
#else
    getcontext(&f.context.context);
    f.context.context.uc_stack.ss_sp = stack;
    f.context.context.uc_stack.ss_size = kStackBytes;
    f.context.context.uc_link = &scheduler_context.context;
    makecontext(&f.context.context, fiber_main, 0);
#endif
}

void wait_at(FiberState barrier) {
    Fiber& self = fibers[running];
    self.state = barrier;
    switch_to(self.context, scheduler_context);
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
        start_fiber(f, stacks[t].get());
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
            switch_to(scheduler_context, fibers[t].context);
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

// Fault injection: SAPT_EMU_FAIL_LAUNCH=N makes the N-th kernel launch of the process fail, as a kernel
// that faults on a GPU does, so that tests can check what a run leaves behind (its last checkpoint intact).
static void fail_if_injected() {
    static const long long fail_at = [] {
        const char* n = std::getenv("SAPT_EMU_FAIL_LAUNCH");
        return n ? std::atoll(n) : 0LL;
    }();
    static long long launches = 0;
    if (fail_at > 0 && ++launches == fail_at) {
        fail("cuda emulator", "CUDA (emulated) error: kernel launch " + std::to_string(launches) +
                                  " failed (injected by SAPT_EMU_FAIL_LAUNCH)\nHINT: kernels run asynchronously, so the "
                                  "failing one may be earlier: rerun with CUDA_LAUNCH_BLOCKING=1");
    }
}

void emu_run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body) {
    fail_if_injected();
    int n_threads = int(block.x * block.y * block.z);
    if (n_threads < 1 || n_threads > kMaxThreadsPerBlock) {
        fail("cuda emulator", "block of " + std::to_string(n_threads) + " threads (expected 1 to 1024)");
    }
    if (int(fibers.size()) < n_threads) fibers.resize(n_threads);
    while (int(stacks.size()) < n_threads) stacks.emplace_back(new char[kStackBytes]);
    // On a GPU shared memory starts with whatever the previous block left: NaN makes a kernel that reads
    // before it writes fail its test here instead of passing on zeros.
    dynamic_shared.assign((shared_bytes + sizeof(float) - 1) / sizeof(float), NAN);
    EmuDeviceAccess open;
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

// ---- device memory: an arena the host cannot touch -----------------------------------------------
// On a GPU, a host line that dereferences a device pointer crashes; under a naive emulation it would
// silently work, and the bug would first show on a real GPU. So emulated device memory is one reserved
// range of address space that the host cannot touch except while a kernel, a copy or the emulated cuBLAS
// runs: a host read of device memory faults here, and the SIGSEGV handler names it.
// Two ways to close it. Where the processor has memory protection keys (x86 PKU), the range carries a key
// whose access the running thread switches off and on with one unprivileged instruction (pkey_set), so
// the guard costs next to nothing; OpenMP worker threads keep access (the CPU GEMM that stands in for
// cuBLAS runs on them), and host loops still fault on the thread that runs the program. Elsewhere the
// whole range is mprotect-ed at every launch and copy (correct, and about ten times slower).
// SAPT_EMU_GUARD=0 turns the guard off; SAPT_EMU_DEVICE_MIB caps the memory, as a small GPU would.

namespace {

struct DeviceArena {
    char* base = nullptr;
    size_t reserved = 0;       // address space set aside
    size_t used = 0;           // bump pointer: [base, base + used) has been handed out at least once
    size_t live = 0;           // bytes allocated and not freed
    size_t limit = 0;          // the emulated GPU's memory
    int open_depth = 0;        // > 0 while device work runs
    bool guard = true;
    int pkey = -1;             // the protection key of the range, or -1: the guard mprotects instead
    std::map<size_t, std::vector<char*>> freed;  // page-rounded size -> blocks to hand out again
    std::unordered_map<char*, size_t> sizes;     // live block -> its page-rounded size
    struct sigaction previous_segv;
};

const size_t kPage = 4096;

void on_segv(int sig, siginfo_t* info, void* context);

DeviceArena& arena() {
    static DeviceArena a = [] {
        DeviceArena made;
        made.reserved = size_t(64) << 30;
        void* p = mmap(nullptr, made.reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) fail("cuda emulator", "cannot reserve 64 GiB of address space for device memory");
        made.base = (char*)p;
        made.limit = made.reserved;
        if (const char* mib = std::getenv("SAPT_EMU_DEVICE_MIB")) made.limit = size_t(std::atoll(mib)) << 20;
        if (const char* g = std::getenv("SAPT_EMU_GUARD")) made.guard = std::strcmp(g, "0") != 0;
        if (made.guard) {
            // Every thread may touch the range by default; the program's own thread shuts itself out.
            made.pkey = pkey_alloc(0, 0);
            if (made.pkey >= 0 && pkey_mprotect(made.base, made.reserved, PROT_READ | PROT_WRITE, made.pkey) != 0) {
                pkey_free(made.pkey);
                made.pkey = -1;
            }
            if (made.pkey >= 0) pkey_set(made.pkey, PKEY_DISABLE_ACCESS);
        }
        void* warm_up[1];
        backtrace(warm_up, 1);  // loads what backtrace needs now, not inside the signal handler
        struct sigaction action = {};
        action.sa_sigaction = on_segv;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, &made.previous_segv);
        return made;
    }();
    return a;
}

void write_text(const char* text) {
    ssize_t ignored = write(2, text, std::strlen(text));
    (void)ignored;
}

// A fault inside the arena is a host access to device memory: say so, show where, then let the previous
// handler (the test framework's, or the default crash) take over.
void on_segv(int sig, siginfo_t* info, void* context) {
    DeviceArena& a = arena();
    char* address = (char*)info->si_addr;
    if (address >= a.base && address < a.base + a.reserved) {
        write_text("\ncuda emulator: host code touched device memory outside a kernel or a copy (on a GPU this "
                   "line would crash or read garbage). Host call stack:\n");
        void* frames[48];
        int n = backtrace(frames, 48);
        backtrace_symbols_fd(frames, n, 2);
    }
    sigaction(SIGSEGV, &a.previous_segv, nullptr);
    if (a.previous_segv.sa_flags & SA_SIGINFO) {
        if (a.previous_segv.sa_sigaction) a.previous_segv.sa_sigaction(sig, info, context);
    } else if (a.previous_segv.sa_handler != SIG_DFL && a.previous_segv.sa_handler != SIG_IGN) {
        a.previous_segv.sa_handler(sig);
    }
    // returning re-runs the faulting access under the restored handler: the default one ends the process
}

void protect(char* start, size_t bytes, bool open) {
    if (arena().pkey >= 0) return;  // the key guards the whole range: pages need no protection of their own
    if (bytes && mprotect(start, bytes, open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0) {
        fail("cuda emulator", std::string("mprotect of device memory failed: ") + std::strerror(errno));
    }
}

bool accessible(const DeviceArena& a) { return !a.guard || a.pkey >= 0 || a.open_depth > 0; }

}  // namespace

void set_access(DeviceArena& a, bool open) {
    if (!a.guard) return;
    if (a.pkey >= 0) {
        pkey_set(a.pkey, open ? 0 : PKEY_DISABLE_ACCESS);
    } else {
        protect(a.base, a.used, open);
    }
}

EmuDeviceAccess::EmuDeviceAccess() {
    DeviceArena& a = arena();
    if (a.open_depth++ == 0) set_access(a, true);
}
EmuDeviceAccess::~EmuDeviceAccess() {
    DeviceArena& a = arena();
    if (--a.open_depth == 0) set_access(a, false);
}

void emu_open_device_memory_to_worker_threads() {
    DeviceArena& a = arena();
    if (a.pkey < 0) return;
    // A worker created while the program's thread was shut out inherited that: open it for good.
#pragma omp parallel
    pkey_set(a.pkey, 0);
}

size_t emu_device_bytes_live() { return arena().live; }
size_t emu_device_bytes_limit() { return arena().limit; }

// ---- the runtime calls ---------------------------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    DeviceArena& a = arena();
    const size_t size = (std::max<size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
    *ptr = nullptr;
    if (a.live + size > a.limit) return cudaErrorMemoryAllocation;
    char* block = nullptr;
    auto hit = a.freed.find(size);
    if (hit != a.freed.end() && !hit->second.empty()) {
        block = hit->second.back();
        hit->second.pop_back();
    } else {
        if (a.used + size > a.reserved) return cudaErrorMemoryAllocation;
        block = a.base + a.used;
        a.used += size;
    }
    protect(block, size, accessible(a));
    a.sizes[block] = size;
    a.live += size;
    *ptr = block;
    return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    DeviceArena& a = arena();
    char* block = (char*)ptr;
    auto found = a.sizes.find(block);
    if (found == a.sizes.end()) fail("cudaFree (emulated)", "pointer was not allocated by cudaMalloc");
    const size_t size = found->second;
    a.sizes.erase(found);
    madvise(block, size, MADV_DONTNEED);  // give the pages back, as cudaFree would
    a.freed[size].push_back(block);
    a.live -= size;
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
    EmuDeviceAccess open;
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
    EmuDeviceAccess open;
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
