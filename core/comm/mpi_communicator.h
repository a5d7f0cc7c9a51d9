// The MPI communicator (Open MPI here): collectives over host memory, for CPU training and for the
// host-side values of an NCCL run. Initialises MPI (MPI_THREAD_MULTIPLE, so that the watchdog
// thread may call MPI_Abort while the main thread waits in a collective) unless someone already
// did, and finalises it on destruction. Compiled when the build has MPI (INQ_WITH_MPI).
#pragma once
#include <mpi.h>

#include <memory>
#include <utility>
#include <vector>

#include "core/comm/communicator.h"
#include "core/comm/watchdog.h"

namespace inq {

class MpiCommunicator final : public Communicator {
 public:
  // timeout_s: limit on every blocking wait (<= 0: none). Throws std::runtime_error when MPI
  // cannot be initialised or was already finalised in this process.
  explicit MpiCommunicator(double timeout_s);
  // Finalises MPI; destroyed while an exception unwinds (one rank failed), it aborts the job
  // instead, since the other ranks would wait for this one in their next collective.
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string description() const override;

  void all_reduce_mean(float* data, int64_t n) override;
  void broadcast(float* data, int64_t n, int root) override;
  void start_all_reduce_mean(float* data, int64_t n) override;
  void wait_all_reduces() override;

  void host_all_reduce_sum(double* data, int64_t n) override;
  void host_all_reduce_max(double* data, int64_t n) override;
  void host_broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& why, int exit_code) override;

 private:
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
  std::vector<std::pair<float*, int64_t>> pending_;  // buffers of begun all-reduces
  std::vector<MPI_Request> requests_;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace inq
