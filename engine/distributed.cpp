// distributed.cpp — the one-process side of distributed.h: rank 0 of 1, every collective a no-op.
// Kept alone in its object file: an MPI build (engine/mpi/distributed_mpi.cpp) links its own definitions
// of these functions before the library, so the linker never pulls this file out of libsapt.a.
#include "engine/distributed.h"

#include <cstdio>
#include <cstdlib>

// A launcher that started several copies of a build without MPI would have each of them train alone and
// write the same run folder: refuse, naming what to build.
void dist_init(int*, char***) {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE"}) {
        const char* value = std::getenv(name);
        if (value && std::atoi(value) > 1) {
            std::fprintf(stderr, "distributed: launched as one of %s ranks (%s) but this program was built without MPI "
                                 "(expected a build with `make MPI=1`, started by mpirun)\n", value, name);
            std::exit(1);
        }
    }
}
void dist_finalize() {}
int dist_rank() { return 0; }
int dist_world_size() { return 1; }
int dist_local_rank() { return 0; }
std::string dist_backend_name() { return "one process"; }
void dist_all_reduce_sum(float*, size_t, Device) {}
std::vector<std::string> dist_all_gather(const std::string& blob) { return {blob}; }
void dist_barrier() {}

void dist_abort(const std::string& message, int code) {
    std::fprintf(stderr, "rank 0: %s\n", message.c_str());
    std::exit(code);
}
