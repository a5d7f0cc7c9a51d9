#include "cuda/nccl_communicator.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include "cuda/check.h"

// The NCCL member of the CUDA_CHECK family: statement, file:line, NCCL's text and the device.
#define NCCL_CHECK(stmt)                                                                             \
  do {                                                                                               \
    const ncclResult_t inq_nr_ = (stmt);                                                             \
    if (inq_nr_ != ncclSuccess) ::inq::cuda::throw_nccl_error(inq_nr_, #stmt, __FILE__, __LINE__); \
  } while (0)

namespace inq::cuda {

[[noreturn]] void throw_nccl_error(ncclResult_t r, const char* stmt, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);
  throw std::runtime_error(std::string(stmt) + " failed at " + file + ":" + std::to_string(line) + " on cuda:" +
                           std::to_string(device) + ": " + ncclGetErrorString(r));
}

NcclCommunicator::NcclCommunicator(double timeout_s, int device, cudaStream_t compute)
    : mpi_(timeout_s), timeout_s_(timeout_s), device_(device), compute_(compute) {
  watchdog_ = std::make_unique<Watchdog>(timeout_s, [this](const std::string& msg) {
    std::fprintf(stderr, "inq: rank %d: %s; aborting the NCCL communicator and the job\n", mpi_.rank(), msg.c_str());
    std::fflush(stderr);
    if (comm_ready_.load()) {
      if (sync_comm_) ncclCommAbort(sync_comm_);
      ncclCommAbort(comm_);
    }
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  });
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  int least = 0, greatest = 0;
  CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  CUDA_CHECK(cudaStreamCreateWithPriority(&sync_stream_, cudaStreamNonBlocking, greatest));
  CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&sync_done_, cudaEventDisableTiming));
  ncclUniqueId id{};
  if (mpi_.rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  mpi_.host_broadcast(&id, sizeof(id), 0);
  {
    Watchdog::Guard guard(*watchdog_, "ncclCommInitRank");
    NCCL_CHECK(ncclCommInitRank(&comm_, mpi_.world_size(), id, mpi_.rank()));
  }
  {
    Watchdog::Guard guard(*watchdog_, "ncclCommSplit");
    NCCL_CHECK(ncclCommSplit(comm_, 0, mpi_.rank(), &sync_comm_, nullptr));
  }
  comm_ready_ = true;
}

NcclCommunicator::~NcclCommunicator() {
  watchdog_.reset();
  if (comm_) {
    // A collective still queued may wait for a peer that is gone (this destructor also runs while
    // an error unwinds): give it the timeout, then abort instead of blocking in ncclCommDestroy.
    bool drained = !in_flight_;
    // The gradient stream waits for the BatchNorm stream, so one event covers both.
    if (!drained && cudaEventRecord(sync_done_, sync_stream_) == cudaSuccess &&
        cudaStreamWaitEvent(stream_, sync_done_, 0) == cudaSuccess && cudaEventRecord(done_, stream_) == cudaSuccess) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
      for (;;) {
        const cudaError_t q = cudaEventQuery(done_);
        drained = q == cudaSuccess;
        if (q != cudaErrorNotReady || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    (void)cudaGetLastError();  // a failed query must not surface at an unrelated later call
    const bool clean = drained && std::uncaught_exceptions() == 0;
    for (ncclComm_t c : {sync_comm_, comm_}) {
      if (!c) continue;
      const ncclResult_t r = clean ? ncclCommDestroy(c) : ncclCommAbort(c);
      if (r != ncclSuccess)
        std::fprintf(stderr, "inq: %s: %s\n", clean ? "ncclCommDestroy" : "ncclCommAbort", ncclGetErrorString(r));
    }
  }
  if (sync_done_) CUDA_LOG(cudaEventDestroy(sync_done_));
  if (done_) CUDA_LOG(cudaEventDestroy(done_));
  if (ready_) CUDA_LOG(cudaEventDestroy(ready_));
  if (sync_stream_) CUDA_LOG(cudaStreamDestroy(sync_stream_));
  if (stream_) CUDA_LOG(cudaStreamDestroy(stream_));
}

std::string NcclCommunicator::description() const {
  int version = 0;
  ncclGetVersion(&version);
  return "nccl " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100) + " on cuda:" + std::to_string(device_) + ", " +
         std::to_string(world_size()) + " ranks (ids over MPI; BatchNorm on a split communicator)";
}

void NcclCommunicator::begin_on(cudaStream_t stream) {
  // Every time, not once per batch of collectives: a bucket or BatchNorm sum begun while earlier
  // collectives run must still wait for the compute work that wrote it since.
  CUDA_CHECK(cudaEventRecord(ready_, compute_));
  CUDA_CHECK(cudaStreamWaitEvent(stream, ready_, 0));
  in_flight_ = true;
}

void NcclCommunicator::order_compute_after(cudaStream_t stream, cudaEvent_t event) {
  CUDA_CHECK(cudaEventRecord(event, stream));
  CUDA_CHECK(cudaStreamWaitEvent(compute_, event, 0));
}

void NcclCommunicator::finish(const char* what) {
  if (!in_flight_) return;
  // BatchNorm's collectives too: the wait below then bounds them even with no bucket after them.
  CUDA_CHECK(cudaStreamWaitEvent(stream_, sync_done_, 0));
  order_compute_after(stream_, done_);
  in_flight_ = false;
  // Bounded host wait: a dead peer leaves NCCL's kernels spinning, which only the timeout ends.
  Watchdog::Guard guard(*watchdog_, what);
  for (;;) {
    const cudaError_t q = cudaEventQuery(done_);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) CUDA_CHECK(q);
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess) abort(std::string("NCCL asynchronous error in ") + what + ": " + ncclGetErrorString(async), 1);
    std::this_thread::yield();
  }
}

void NcclCommunicator::all_reduce_mean(float* data, int64_t n) {
  // Stream-ordered, no host wait: synchronised BatchNorm calls this in every layer, and a host
  // wait there would drain the GPU's queue each time. Its own communicator and stream: it does not
  // queue behind the gradient buckets in flight. The gradient stream's next collective waits for
  // the compute stream, which waits for this, so the next finish() bounds this one too.
  begin_on(sync_stream_);
  NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclAvg, sync_comm_, sync_stream_));
  order_compute_after(sync_stream_, sync_done_);
}

void NcclCommunicator::broadcast(float* data, int64_t n, int root) {
  begin_on(stream_);
  NCCL_CHECK(ncclBroadcast(data, data, static_cast<size_t>(n), ncclFloat, root, comm_, stream_));
  finish("ncclBroadcast");
}

void NcclCommunicator::start_all_reduce_mean(float* data, int64_t n) {
  begin_on(stream_);
  NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclAvg, comm_, stream_));
}

void NcclCommunicator::wait_all_reduces() { finish("ncclAllReduce"); }

void NcclCommunicator::abort(const std::string& why, int exit_code) {
  std::fprintf(stderr, "inq: rank %d: %s; aborting the job\n", rank(), why.c_str());
  std::fflush(stderr);
  if (comm_ready_.load()) {
    if (sync_comm_) ncclCommAbort(sync_comm_);
    ncclCommAbort(comm_);
  }
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace inq::cuda
