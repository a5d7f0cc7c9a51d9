#include "core/comm/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace inq {
namespace {

// MPI counts are int: larger buffers go in pieces.
constexpr int64_t kMaxCount = INT_MAX / 2;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

}  // namespace

MpiCommunicator::MpiCommunicator(double timeout_s) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) throw std::runtime_error("MPI was already finalised in this process; one MpiCommunicator per process");
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    owns_mpi_ = true;
  }
  // Errors come back as codes and become exceptions naming the call.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  const int rank = rank_;
  watchdog_ = std::make_unique<Watchdog>(timeout_s, [rank](const std::string& msg) {
    std::fprintf(stderr, "inq: rank %d: %s; aborting the job\n", rank, msg.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  });
}

MpiCommunicator::~MpiCommunicator() {
  if (std::uncaught_exceptions() > 0 && size_ > 1) {
    std::fprintf(stderr, "inq: rank %d failed; aborting the other ranks\n", rank_);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  watchdog_.reset();
  if (owns_mpi_) MPI_Finalize();
}

std::string MpiCommunicator::description() const {
  int len = 0;
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Get_library_version(version, &len);
  std::string lib(version, static_cast<size_t>(len));
  lib = lib.substr(0, lib.find_first_of(",\n"));
  return "mpi (" + lib + "), " + std::to_string(size_) + " ranks";
}

void MpiCommunicator::all_reduce_mean(float* data, int64_t n) {
  start_all_reduce_mean(data, n);
  wait_all_reduces();
}

void MpiCommunicator::broadcast(float* data, int64_t n, int root) {
  Watchdog::Guard guard(*watchdog_, "broadcast");
  for (int64_t i = 0; i < n; i += kMaxCount)
    check(MPI_Bcast(data + i, static_cast<int>(std::min(kMaxCount, n - i)), MPI_FLOAT, root, MPI_COMM_WORLD),
          "MPI_Bcast");
}

void MpiCommunicator::start_all_reduce_mean(float* data, int64_t n) {
  for (int64_t i = 0; i < n; i += kMaxCount) {
    requests_.emplace_back();
    check(MPI_Iallreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kMaxCount, n - i)), MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD, &requests_.back()),
          "MPI_Iallreduce");
  }
  pending_.emplace_back(data, n);
  // Open MPI advances non-blocking collectives only inside MPI calls: a test per bucket lets the
  // earlier buckets progress while backward computes the next.
  int done = 0;
  check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
}

void MpiCommunicator::wait_all_reduces() {
  if (requests_.empty()) return;
  {
    Watchdog::Guard guard(*watchdog_, "gradient all-reduce");
    check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }
  requests_.clear();
  const auto ranks = static_cast<float>(size_);
  for (const auto& [data, n] : pending_)
    for (int64_t i = 0; i < n; ++i) data[i] /= ranks;
  pending_.clear();
}

void MpiCommunicator::host_all_reduce_sum(double* data, int64_t n) {
  Watchdog::Guard guard(*watchdog_, "all-reduce of host values");
  check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void MpiCommunicator::host_all_reduce_max(double* data, int64_t n) {
  Watchdog::Guard guard(*watchdog_, "all-reduce of host values");
  check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
}

void MpiCommunicator::host_broadcast(void* data, size_t bytes, int root) {
  Watchdog::Guard guard(*watchdog_, "broadcast of host values");
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void MpiCommunicator::barrier() {
  Watchdog::Guard guard(*watchdog_, "barrier");
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void MpiCommunicator::abort(const std::string& why, int exit_code) {
  std::fprintf(stderr, "inq: rank %d: %s; aborting the job\n", rank_, why.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace inq
