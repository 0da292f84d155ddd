// distributed.h — the few collectives data-parallel training needs: who am I (rank, world size, the GPU
// of this node I take), a sum of one flat float buffer over every rank (host memory, or device memory
// through NCCL), an ordered gather of byte blobs, a barrier, and stopping every rank at once. One
// process (engine/distributed.cpp, always in the library) is the default; `make MPI=1` links
// engine/mpi/distributed_mpi.cpp in its place. Not here: what is reduced (sapt/data_parallel.h).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "engine/tensor.h"

// Starts the communication (MPI_Init, NCCL on first device use). Call first in main, before any GPU
// memory exists: a rank takes GPU local_rank (cudaSetDevice) in a CUDA build.
void dist_init(int* argc, char*** argv);
// Ends it after a normal return of main (MPI_Finalize).
void dist_finalize();

int dist_rank();        // 0 .. world_size - 1
int dist_world_size();  // 1 without a launcher
int dist_local_rank();  // the rank among this node's processes: the GPU it uses
// "one process", "MPI" or "MPI + NCCL": for the startup line.
std::string dist_backend_name();

// data[0..count) := the sum of every rank's data[0..count), in place. `device` says where data lives
// (CUDA: NCCL in a CUDA + MPI build). Every rank must call it with the same count, in the same order.
void dist_all_reduce_sum(float* data, size_t count, Device device);
// Every rank's blob, in rank order, on every rank.
std::vector<std::string> dist_all_gather(const std::string& blob);
void dist_barrier();
// Prints "rank R: message" to stderr and ends every rank (MPI_Abort) with exit code `code`; one process
// simply exits. Used when one rank fails, so that the others never wait forever in a collective.
[[noreturn]] void dist_abort(const std::string& message, int code);
