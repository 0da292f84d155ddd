// distributed_mpi.cpp — distributed.h over MPI (Open MPI's mpirun launches the ranks), and in a CUDA build
// NCCL for device buffers: rank 0 draws the ncclUniqueId and MPI_Bcast carries it (the NCCL guide's
// "one device per process" example, as llm.c does). Linked instead of engine/distributed.cpp by
// `make MPI=1`; it is the only file compiled by mpicxx. Not here: the TCP / file id exchanges of
// launchers without MPI (torchrun, Slurm without PMIx).
// The C API only: Open MPI's deprecated C++ bindings would come along otherwise (and warn).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/distributed.h"
#include "engine/error.h"

#ifdef SAPT_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
// The backend's one stream (kernels/cuda/memory.cu): the reduction queues behind the backward kernels that
// wrote the gradients and ahead of the optimizer's, with no host wait. Declared here because
// cuda_primitives.h is nvcc-only.
cudaStream_t cuda_stream();
#endif

static int g_rank = 0, g_world = 1, g_local_rank = 0;

static void mpi_check(int status, const char* what) {
    if (status == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, text, &length);
    dist_abort(std::string(what) + " failed: " + std::string(text, (size_t)length), 1);
}

#ifdef SAPT_CUDA
static ncclComm_t g_nccl = nullptr;

// Created on the first device reduction: a CPU run of a CUDA build never touches the GPU.
static ncclComm_t nccl_comm() {
    if (g_nccl) return g_nccl;
    ncclUniqueId id;
    if (g_rank == 0) {
        const ncclResult_t status = ncclGetUniqueId(&id);
        if (status != ncclSuccess) dist_abort(std::string("ncclGetUniqueId: ") + ncclGetErrorString(status), 1);
    }
    mpi_check(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast of the NCCL id");
    const ncclResult_t status = ncclCommInitRank(&g_nccl, g_world, id, g_rank);
    if (status != ncclSuccess) {
        dist_abort(std::string("ncclCommInitRank: ") + ncclGetErrorString(status) +
                       " (expected one GPU per rank: two ranks on one GPU are refused by NCCL)", 1);
    }
    return g_nccl;
}
#endif

void dist_init(int* argc, char*** argv) {
    mpi_check(MPI_Init(argc, argv), "MPI_Init");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    // A torchrun-style launcher (RANK / WORLD_SIZE, no MPI) starts singletons that would each train alone.
    const char* launcher_world = std::getenv("WORLD_SIZE");
    if (g_world == 1 && launcher_world && std::atoi(launcher_world) > 1) {
        dist_abort(std::string("WORLD_SIZE=") + launcher_world + " but MPI sees one process (expected a launch by "
                   "mpirun -np " + launcher_world + "; torchrun's RANK / WORLD_SIZE alone are not read)", 1);
    }
    // The rank among the processes of this node: a communicator per shared-memory node (MPI-3), not a
    // hostname hash.
    MPI_Comm node;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    MPI_Comm_rank(node, &g_local_rank);
    MPI_Comm_free(&node);
    // Errors in a collective (a peer gone) come back as a status instead of ending the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
#ifdef SAPT_CUDA
    // Before any stream, handle or allocation exists: they belong to the device current when made.
    int devices = 0;
    if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) {
        if (g_local_rank >= devices) {
            dist_abort("local rank " + std::to_string(g_local_rank) + " has no GPU (expected at most " +
                           std::to_string(devices) + " ranks per node, got more)", 1);
        }
        cudaSetDevice(g_local_rank);
    }
#endif
}

void dist_finalize() {
#ifdef SAPT_CUDA
    if (g_nccl) ncclCommDestroy(g_nccl);
    g_nccl = nullptr;
#endif
    MPI_Finalize();
}

int dist_rank() { return g_rank; }
int dist_world_size() { return g_world; }
int dist_local_rank() { return g_local_rank; }

std::string dist_backend_name() {
#ifdef SAPT_CUDA
    return "MPI + NCCL";
#else
    return "MPI";
#endif
}

void dist_all_reduce_sum(float* data, size_t count, Device device) {
    if (g_world == 1 || count == 0) return;
    if (device == Device::CUDA) {
#ifdef SAPT_CUDA
        // In fp32, in place, on the backend's stream (ordered after the kernels that wrote `data`).
        const ncclResult_t status = ncclAllReduce(data, data, count, ncclFloat32, ncclSum, nccl_comm(), cuda_stream());
        if (status != ncclSuccess) dist_abort(std::string("ncclAllReduce: ") + ncclGetErrorString(status), 1);
        return;
#else
        fail("dist_all_reduce_sum", "a device buffer in a build without CUDA (expected CUDA=1 MPI=1)");
#endif
    }
    // MPI counts are int: large buffers go in pieces.
    const size_t piece = (size_t)1 << 30;
    for (size_t offset = 0; offset < count; offset += piece) {
        const int n = (int)std::min(piece, count - offset);
        mpi_check(MPI_Allreduce(MPI_IN_PLACE, data + offset, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
}

std::vector<std::string> dist_all_gather(const std::string& blob) {
    const int size = (int)blob.size();
    std::vector<int> sizes((size_t)g_world), offsets((size_t)g_world);
    mpi_check(MPI_Allgather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather of sizes");
    long long total = 0;
    for (int r = 0; r < g_world; r++) {
        offsets[(size_t)r] = (int)total;
        total += sizes[(size_t)r];
    }
    if (total > 0x7fffffff) fail("dist_all_gather", "more than 2 GiB gathered (got " + std::to_string(total) + " bytes)");
    std::string all((size_t)total, '\0');
    mpi_check(MPI_Allgatherv(blob.data(), size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    std::vector<std::string> blobs;
    for (int r = 0; r < g_world; r++) blobs.push_back(all.substr((size_t)offsets[(size_t)r], (size_t)sizes[(size_t)r]));
    return blobs;
}

void dist_barrier() { mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void dist_abort(const std::string& message, int code) {
    std::fprintf(stderr, "rank %d of %d: %s; stopping every rank\n", g_rank, g_world, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] true if it ever did
}
