// Data-parallel training over a Communicator: every rank holds the whole model, trains on its shard
// of each global batch, and the ranks stay identical because they start from the same state
// (broadcast from rank 0) and apply the same averaged gradient. Works on the Net's flat buffers.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/comm/communicator.h"
#include "core/net.h"

namespace inq {

class InqState;

struct GradBucket {
  int64_t offset = 0;  // floats into flat_grads()
  int64_t size = 0;
};

class DataParallel {
 public:
  // bucket_bytes: gradient bytes per all-reduce (the last bucket of the reverse order may be smaller).
  DataParallel(Communicator& comm, Net& net, int64_t bucket_bytes);

  Communicator& comm() { return comm_; }
  const std::vector<GradBucket>& buckets() const { return buckets_; }

  // Parameters and buffers (BatchNorm statistics) of rank 0 to every rank.
  void broadcast_state();
  void broadcast_buffers();
  // Overlap: a hook for Context::grad_ready. Backward reports each parameter whose gradient it has
  // written; when a bucket is complete its all-reduce starts at once, while backward goes on. Every
  // rank runs the same backward, so the buckets start in the same order everywhere, as collectives
  // must. Empty for world size 1 (nothing to reduce).
  std::function<void(Param&)> grad_ready_hook();
  // Replaces every rank's gradients by their mean over the ranks: starts the buckets the hook has
  // not started (all of them without the hook: last parameter first, the order backward produces
  // them; parameters backward did not reach), then waits for every bucket. Call once per step.
  void all_reduce_gradients();
  // Throws std::runtime_error on every rank when the INQ masks differ between ranks (compared by a
  // 64-bit hash of the mask bytes against rank 0's); `when` names the moment in the message.
  void check_masks_equal(const InqState& inq, const std::string& when);
  // True on every rank when `flag` is true on any rank.
  bool any(bool flag);

 private:
  void grad_ready(const Param& p);

  Communicator& comm_;
  Net& net_;
  std::vector<GradBucket> buckets_;
  // Per step: which parameters backward has reported, how many are still missing per bucket.
  std::unordered_map<const Param*, size_t> param_index_;
  std::vector<size_t> bucket_of_param_;
  std::vector<int> params_per_bucket_, missing_;
  std::vector<char> reported_, started_;
};

// Buckets of about `bucket_floats` over the parameters, last parameter first, each a contiguous
// range of the flat gradient buffer made of whole parameters (alignment gaps included).
std::vector<GradBucket> make_grad_buckets(const Net& net, int64_t bucket_floats);

// FNV-1a, 64 bit: the hash compared across ranks.
uint64_t fnv1a64(const uint8_t* data, size_t n);

}  // namespace inq
