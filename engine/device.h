// device.h — the memory functions tensor.cpp needs from a GPU backend: allocate, free, zero and copy raw
// bytes. kernels/cuda implements the first four (cudaMalloc, cudaFree, cudaMemset, cudaMemcpy); they
// exist only in a SAPT_CUDA build. copy_bytes is always available (tensor.cpp): a memcpy between host
// buffers, device_copy as soon as one side lives on the GPU. Nothing here knows about shapes or dtypes.
#pragma once
#include <cstddef>

#include "engine/tensor.h"

#ifdef SAPT_CUDA
void* device_alloc(size_t bytes);  // uninitialised; throws sapt_error when the GPU is out of memory
void device_free(void* ptr);
void device_zero(void* ptr, size_t bytes);
// dst_dev / src_dev say which side is GPU memory (host to device, device to host, device to device).
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
#endif

// Copies `bytes` from src to dst on whatever devices they live (both CPU: memcpy).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
