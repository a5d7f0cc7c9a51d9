// Rank discovery from the launcher's environment: Open MPI's mpirun (OMPI_COMM_WORLD_*), Slurm's
// srun (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), MPICH/Hydra and PMI launchers (PMI_RANK /
// PMI_SIZE, MPI_LOCALRANKID), or none: a plain single process of world size 1.
#pragma once
#include <functional>
#include <string>

namespace inq {

struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;          // rank among the processes of this node: picks the GPU
  std::string launcher = "none";  // "openmpi", "slurm", "pmi" or "none"
};

using EnvLookup = std::function<const char*(const char*)>;

// Reads the variables of the first launcher whose rank and size are both set (Open MPI, then Slurm,
// then PMI). Throws std::runtime_error naming the variable when a value is not an integer or the
// rank lies outside the world size.
LaunchInfo detect_launch(const EnvLookup& env);
LaunchInfo detect_launch();  // from the process environment

// The CUDA device of a rank: local rank modulo the visible devices (> 0).
inline int device_for_local_rank(int local_rank, int visible_devices) { return local_rank % visible_devices; }

}  // namespace inq
