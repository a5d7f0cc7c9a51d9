// One block: each thread ranks its rows' labels (the counts are integers, so their order does not
// matter), then thread 0 adds the losses in index order in double, exactly as the reference does.
#include "core/ref/loss_stats_ref.h"
#include "cuda/check.h"
#include "cuda/loss_stats.h"

namespace inq::cuda {
namespace {

constexpr int kStatsThreads = 256;

__global__ void loss_stats_kernel(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                                  double* stats) {
  __shared__ int top1[kStatsThreads], top5[kStatsThreads];
  int t1 = 0, t5 = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int32_t label = labels[i];
    if (label < 0 || label >= classes) continue;
    const int rank = label_rank(logits + static_cast<int64_t>(i) * classes, classes, label);
    t1 += rank < 1 ? 1 : 0;
    t5 += rank < 5 ? 1 : 0;
  }
  top1[threadIdx.x] = t1;
  top5[threadIdx.x] = t5;
  __syncthreads();
  if (threadIdx.x != 0) return;
  double running = stats[0], batch = 0.0;
  for (int i = 0; i < n; ++i) {
    running = __dadd_rn(running, static_cast<double>(loss[i]));
    batch = __dadd_rn(batch, static_cast<double>(loss[i]));
  }
  int s1 = 0, s5 = 0;
  for (int k = 0; k < kStatsThreads; ++k) s1 += top1[k], s5 += top5[k];
  stats[0] = running;
  stats[1] += static_cast<double>(s1);
  stats[2] += static_cast<double>(s5);
  stats[3] = batch;
}

}  // namespace

void loss_stats(int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats,
                cudaStream_t stream) {
  loss_stats_kernel<<<1, kStatsThreads, 0, stream>>>(n, classes, logits, loss, labels, stats);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
