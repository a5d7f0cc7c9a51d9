// Collectives among the ranks of a data-parallel run. Two kinds of buffers:
//  - model buffers (parameters, gradients, BatchNorm statistics): float arrays on the training
//    backend's device (host memory for the CPU backend, GPU memory for NCCL), ordered after the
//    work already issued on that backend;
//  - small host values (evaluation sums, mask hashes, stop flags): plain CPU memory, blocking.
// Every collective must be called by every rank in the same order. A collective that does not
// complete within the communicator's timeout (a rank died or hangs) aborts the whole job with a
// message naming the collective, never an endless wait.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace inq {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string description() const = 0;  // e.g. "mpi, 2 ranks"

  // Model buffers. all_reduce_mean replaces `data` on every rank by the mean over the ranks.
  virtual void all_reduce_mean(float* data, int64_t n) = 0;
  virtual void broadcast(float* data, int64_t n, int root) = 0;
  // Bucketed gradients: start_all_reduce_mean begins a mean all-reduce that may run while the
  // caller goes on (more buckets, more backward); wait_all_reduces() returns when all begun ones are
  // done and their results are visible to work issued afterwards on the backend.
  virtual void start_all_reduce_mean(float* data, int64_t n) = 0;
  virtual void wait_all_reduces() = 0;

  // Small host values, blocking.
  virtual void host_all_reduce_sum(double* data, int64_t n) = 0;
  virtual void host_all_reduce_max(double* data, int64_t n) = 0;
  virtual void host_broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;

  // Ends every rank of the job (MPI_Abort, ncclCommAbort) with `exit_code` after printing `why`.
  [[noreturn]] virtual void abort(const std::string& why, int exit_code) = 0;
};

// World size 1: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string description() const override { return "none (single process)"; }
  void all_reduce_mean(float*, int64_t) override {}
  void broadcast(float*, int64_t, int) override {}
  void start_all_reduce_mean(float*, int64_t) override {}
  void wait_all_reduces() override {}
  void host_all_reduce_sum(double*, int64_t) override {}
  void host_all_reduce_max(double*, int64_t) override {}
  void host_broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why, int exit_code) override;
};

}  // namespace inq
