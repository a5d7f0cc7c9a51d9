// Data-parallel training over a Communicator: every rank holds the whole model, trains on its shard
// of each global batch, and the ranks stay identical because they start from the same state
// (broadcast from rank 0) and apply the same averaged gradient. Works on the Net's flat buffers.
#pragma once
#include <cstdint>
#include <string>
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
  // Replaces every rank's gradients by their mean over the ranks: buckets from the last parameter
  // to the first (the order backward produces them), all begun before the first is waited for.
  void all_reduce_gradients();
  // Throws std::runtime_error on every rank when the INQ masks differ between ranks (compared by a
  // 64-bit hash of the mask bytes against rank 0's); `when` names the moment in the message.
  void check_masks_equal(const InqState& inq, const std::string& when);
  // True on every rank when `flag` is true on any rank.
  bool any(bool flag);

 private:
  Communicator& comm_;
  Net& net_;
  std::vector<GradBucket> buckets_;
};

// Buckets of about `bucket_floats` over the parameters, last parameter first, each a contiguous
// range of the flat gradient buffer made of whole parameters (alignment gaps included).
std::vector<GradBucket> make_grad_buckets(const Net& net, int64_t bucket_floats);

// FNV-1a, 64 bit: the hash compared across ranks.
uint64_t fnv1a64(const uint8_t* data, size_t n);

}  // namespace inq
