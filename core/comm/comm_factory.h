// Choosing and building the communicator of a run. resolve_comm_backend (inq_core) turns the
// configured distributed.backend into the one to use; make_communicator (inq_engine, which sees
// the CUDA backend and NCCL) builds it. The trainer receives make_communicator through RunOptions,
// as it receives the backend factory.
#pragma once
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/comm/communicator.h"
#include "core/comm/launch_env.h"

namespace inq {

// "auto" | "mpi" | "nccl" | "none" -> "mpi" | "nccl" | "none". auto: none for a single process,
// nccl on cuda, mpi on cpu. Throws ConfigError naming distributed.backend when the choice cannot
// work: several ranks with "none", mpi with device cuda (MPI reduces host buffers), nccl on the cpu,
// or a backend this build lacks.
std::string resolve_comm_backend(const std::string& configured, Device device, const LaunchInfo& launch);

bool build_has_mpi();
bool build_has_nccl();

// `backend` as resolve_comm_backend gives it; `be` the training backend (NCCL orders its stream
// after be's). Throws std::runtime_error when the launcher's rank or size differs from MPI's.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s,
                                                const LaunchInfo& launch, Backend& be);

// Visible CUDA devices (0 without CUDA): the GPU of a rank is local_rank modulo this.
int cuda_device_count();

}  // namespace inq
