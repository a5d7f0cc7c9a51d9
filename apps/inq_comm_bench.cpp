// inq_comm_bench: the cost of one step's gradient all-reduce over MPI (CPU buffers), as the
// trainer does it: a model's flat gradient buffer in buckets, all begun, then waited for.
//   mpirun -np N inq_comm_bench --model resnet18 [--bucket-mb 25] [--reps 20] [--warmup 3]
// Rank 0 prints the median and p10/p90 time per all-reduce and the bus bandwidth 2(N-1)/N * bytes / t.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/comm/data_parallel.h"
#include "core/cpu_backend.h"
#include "core/models/zoo.h"
#ifdef INQ_WITH_MPI
#include "core/comm/mpi_communicator.h"
#endif

int main(int argc, char** argv) {
  std::string model = "resnet18";
  double bucket_mb = 25;
  int reps = 20, warmup = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    else if (a == "--bucket-mb") bucket_mb = std::atof(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "inq_comm_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (reps < 1 || bucket_mb <= 0) {
    std::fprintf(stderr, "inq_comm_bench: --reps must be >= 1 and --bucket-mb > 0\n");
    return 2;
  }
#ifndef INQ_WITH_MPI
  (void)warmup;
  std::fprintf(stderr, "inq_comm_bench: this build has no MPI (INQ_WITH_MPI=OFF)\n");
  return 2;
#else
  try {
    const bool fmnist = model == "resnet8";
    inq::ModelOptions mo{model, fmnist ? 10 : 1000, fmnist ? 1 : 3, fmnist ? 28 : 224};
    auto net = inq::make_model(mo);
    inq::CpuBackend be(1);
    net->materialize(be, 0);
    inq::MpiCommunicator comm(120);
    inq::DataParallel dp(comm, *net, static_cast<int64_t>(bucket_mb * 1048576.0));
    std::vector<double> ms;
    for (int r = 0; r < warmup + reps; ++r) {
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      dp.all_reduce_gradients();
      double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      comm.host_all_reduce_max(&t, 1);  // the slowest rank's time is the step's
      if (r >= warmup) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const double bytes = double(net->num_params()) * 4.0, n = comm.world_size();
    const double med = ms[ms.size() / 2];
    if (comm.rank() == 0)
      std::printf("%s: %lld gradients (%.1f MB) in %zu buckets, %d ranks: all-reduce median %.3f ms (p10 %.3f, p90 "
                  "%.3f), bus bandwidth %.2f GB/s\n",
                  model.c_str(), static_cast<long long>(net->num_params()), bytes / 1e6, dp.buckets().size(),
                  comm.world_size(), med, ms[ms.size() / 10], ms[ms.size() * 9 / 10],
                  n > 1 ? 2 * (n - 1) / n * bytes / (med * 1e-3) / 1e9 : 0.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_comm_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
#endif
}
