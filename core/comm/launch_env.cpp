#include "core/comm/launch_env.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace inq {
namespace {

// -1 when unset; throws on a value that is not a non-negative integer.
int read_int(const EnvLookup& env, const char* name) {
  const char* v = env(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno || *end != '\0' || x < 0 || x > (1 << 30))
    throw std::runtime_error(std::string("launcher environment: ") + name + "=\"" + v + "\" is not a rank or size");
  return static_cast<int>(x);
}

struct Names {
  const char* launcher;
  const char* rank;
  const char* size;
  const char* local_rank;
};

}  // namespace

LaunchInfo detect_launch(const EnvLookup& env) {
  static const Names kLaunchers[] = {
      {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
      {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
  };
  for (const Names& n : kLaunchers) {
    const int rank = read_int(env, n.rank), size = read_int(env, n.size);
    if (rank < 0 || size < 0) continue;
    if (size < 1 || rank >= size)
      throw std::runtime_error(std::string("launcher environment: ") + n.rank + "=" + std::to_string(rank) + " with " +
                               n.size + "=" + std::to_string(size));
    LaunchInfo info;
    info.rank = rank;
    info.world_size = size;
    const int local = read_int(env, n.local_rank);
    info.local_rank = local >= 0 ? local : rank;  // no node-local rank: one process per node assumed
    info.launcher = n.launcher;
    return info;
  }
  return LaunchInfo{};
}

LaunchInfo detect_launch() {
  return detect_launch([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

}  // namespace inq
