// cuda_backend.h — the CUDA backend as the rest of sapt.cpp sees it: its table (cuda_kernels), its memory
// functions (memory.cu), whether a GPU is usable, waiting for queued work, and its own settings (GEMM precision,
// attention path). engine/backend.cpp registers them together as cuda_backend; the engine reaches them only
// through that registry, the CUDA tests and benchmarks by name. Not here: the kernels (cuda_kernels.h).
#pragma once
#include <string>

#include "engine/device.h"
#include "kernels/kernels.h"

extern const Kernels cuda_kernels;  // "cuda", or "cuda_emulated" under the emulation (cuda_kernels.cu)

// ---- memory (memory.cu): a caching allocator over cudaMalloc, copies and zeroing on the one stream ----------
void* cuda_alloc(size_t bytes);  // uninitialised; throws sapt_error when the GPU is out of memory
void cuda_free(void* ptr);
void cuda_zero(void* ptr, size_t bytes);
// dst_dev / src_dev say which side is GPU memory (host to device, device to host, device to device).
void cuda_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
DeviceMemoryInfo cuda_memory_info();
DeviceTraffic cuda_traffic();
void cuda_traffic_count_sync();  // for the backend's own waits (cuda_synchronize)

// From the environment variable SAPT_CUDA_GEMM (f32 by default; see gemm_cublas.cu), or set by a program.
GemmPrecision cuda_gemm_precision();
void cuda_set_gemm_precision(GemmPrecision precision);

// Which attention the backend runs: Auto (the default) takes the cuBLAS products of attention_gemm.cu for long
// rows (Tq Tk >= 128 x 256), else the fused kernel of attention.cu; Fused and Gemm force one (the tests run
// both). From the environment variable SAPT_CUDA_ATTENTION (auto, fused, gemm), or set by a program.
enum class CudaAttentionPath { Auto, Fused, Gemm };
CudaAttentionPath cuda_attention_path();
void cuda_set_attention_path(CudaAttentionPath path);

// The most memory one score buffer of the GEMM path takes (backward holds two); longer sequences are taken
// in blocks of query rows. 256 MiB, or SAPT_CUDA_ATTENTION_MIB.
size_t cuda_attention_score_budget();
void cuda_set_attention_score_budget(size_t bytes);

// True when a CUDA device can be used; otherwise `why` says what is missing (no GPU, no driver).
// Under the emulation the "device" is the CPU, always available.
bool cuda_device_available(std::string* why);
// Waits until every kernel and copy queued so far has finished (for timing and before reading results).
void cuda_synchronize();
// A one-line description of the device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
std::string cuda_device_name();
