// resolve_comm_backend and the build's capabilities (inq_core); make_communicator is in comm_factory.cpp.
#include <string>

#include "core/comm/comm_factory.h"
#include "core/config.h"

namespace inq {

bool build_has_mpi() {
#ifdef INQ_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::string resolve_comm_backend(const std::string& configured, Device device, const LaunchInfo& launch) {
  const std::string ranks = std::to_string(launch.world_size) + " ranks (launcher: " + launch.launcher + ")";
  std::string b = configured;
  if (b == "auto") b = launch.world_size == 1 ? "none" : device == Device::CUDA ? "nccl" : "mpi";
  if (b == "none") {
    if (launch.world_size > 1)
      throw ConfigError("distributed.backend: \"none\" but the launcher started " + ranks +
                        "; use \"auto\", \"mpi\" or \"nccl\"");
    return b;
  }
  if (b == "mpi" && device == Device::CUDA)
    throw ConfigError("distributed.backend: \"mpi\" reduces host buffers and needs device \"cpu\"; use \"nccl\" on cuda");
  if (b == "nccl" && device != Device::CUDA)
    throw ConfigError("distributed.backend: \"nccl\" needs device \"cuda\"; use \"mpi\" on the cpu");
  if (!build_has_mpi())
    throw ConfigError("distributed.backend: \"" + b + "\" for " + ranks +
                      " needs MPI, but this build has none (configure with -DINQ_WITH_MPI=ON and libopenmpi-dev)");
  if (b == "nccl" && !build_has_nccl())
    throw ConfigError("distributed.backend: \"nccl\" but this build has no NCCL (it needs INQ_WITH_CUDA and INQ_WITH_MPI)");
  return b;
}

}  // namespace inq
