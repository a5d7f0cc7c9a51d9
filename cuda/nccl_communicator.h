// The NCCL communicator: collectives over GPU buffers on a stream of its own, ordered after the
// training backend's stream by events (and the backend's later work after the collectives by
// events again). Synchronised BatchNorm's all-reduces (all_reduce_mean) go through a second
// communicator split from the first, on a high-priority stream: NCCL runs the operations of one
// communicator in order whatever their streams, so on the gradient communicator each BatchNorm sum
// would wait behind every gradient bucket already queued and the backward pass would stall there. The unique id is made on rank 0 and broadcast with MPI; host values (evaluation
// sums, mask hashes, stop flags) go over MPI. Every blocking wait is bounded by timeout_s: on
// expiry, or on an asynchronous NCCL error, the communicator is aborted (ncclCommAbort) and the
// job ends (MPI_Abort). Compiled when the build has CUDA and MPI.
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <memory>

#include "core/comm/communicator.h"
#include "core/comm/mpi_communicator.h"
#include "core/comm/watchdog.h"

namespace inq::cuda {

class NcclCommunicator final : public Communicator {
 public:
  // device: the CUDA device of this rank; compute: the training backend's stream on it.
  NcclCommunicator(double timeout_s, int device, cudaStream_t compute);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int world_size() const override { return mpi_.world_size(); }
  std::string description() const override;

  void all_reduce_mean(float* data, int64_t n) override;
  void broadcast(float* data, int64_t n, int root) override;
  void start_all_reduce_mean(float* data, int64_t n) override;
  void wait_all_reduces() override;

  void host_all_reduce_sum(double* data, int64_t n) override { mpi_.host_all_reduce_sum(data, n); }
  void host_all_reduce_max(double* data, int64_t n) override { mpi_.host_all_reduce_max(data, n); }
  void host_broadcast(void* data, size_t bytes, int root) override { mpi_.host_broadcast(data, bytes, root); }
  void barrier() override { mpi_.barrier(); }
  [[noreturn]] void abort(const std::string& why, int exit_code) override;

 private:
  void begin_on(cudaStream_t stream);  // `stream` waits for the compute stream's work so far
  void order_compute_after(cudaStream_t stream, cudaEvent_t event);  // compute waits for `stream`'s work so far
  void finish(const char* what);  // order_compute_after_comm, then the host waits, bounded

  MpiCommunicator mpi_;
  double timeout_s_;
  int device_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t sync_stream_ = nullptr;  // synchronised BatchNorm's collectives (high priority)
  cudaEvent_t ready_ = nullptr, done_ = nullptr, sync_done_ = nullptr;
  ncclComm_t comm_ = nullptr;       // gradient buckets, broadcasts
  ncclComm_t sync_comm_ = nullptr;  // synchronised BatchNorm
  std::atomic<bool> comm_ready_{false};
  bool in_flight_ = false;  // collectives begun since the last finish
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace inq::cuda
