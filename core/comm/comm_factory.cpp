// make_communicator: compiled into inq_engine (with the backend factory) so that it sees NCCL.
#include "core/comm/comm_factory.h"

#include <stdexcept>

#ifdef INQ_WITH_MPI
#include "core/comm/mpi_communicator.h"
#endif
#ifdef INQ_WITH_NCCL
#include "cuda/cuda_backend.h"
#include "cuda/nccl_communicator.h"
#endif
#ifdef INQ_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace inq {

bool build_has_nccl() {
#ifdef INQ_WITH_NCCL
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef INQ_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

#ifdef INQ_WITH_MPI  // NCCL builds have MPI too (ids over MPI)
namespace {

void check_launch(const Communicator& c, const LaunchInfo& launch) {
  if (c.rank() != launch.rank || c.world_size() != launch.world_size)
    throw std::runtime_error("the launcher's environment (" + launch.launcher + ") says rank " +
                             std::to_string(launch.rank) + " of " + std::to_string(launch.world_size) + ", MPI says " +
                             std::to_string(c.rank()) + " of " + std::to_string(c.world_size()));
}

}  // namespace
#endif

std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s,
                                                const LaunchInfo& launch, Backend& be) {
  if (backend == "none") return std::make_unique<LocalCommunicator>();
#ifdef INQ_WITH_MPI
  if (backend == "mpi") {
    auto c = std::make_unique<MpiCommunicator>(timeout_s);
    check_launch(*c, launch);
    return c;
  }
#endif
#ifdef INQ_WITH_NCCL
  if (backend == "nccl") {
    auto* cuda_be = dynamic_cast<cuda::CudaBackend*>(&be);
    if (!cuda_be) throw std::runtime_error("distributed.backend \"nccl\" needs the CUDA backend");
    auto c = std::make_unique<cuda::NcclCommunicator>(timeout_s, cuda_be->device_index(), cuda_be->stream());
    check_launch(*c, launch);
    return c;
  }
#endif
  throw std::runtime_error("communicator \"" + backend + "\" is not available in this build");
}

}  // namespace inq
