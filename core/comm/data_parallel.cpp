#include "core/comm/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/inq/inq_state.h"

namespace inq {

std::vector<GradBucket> make_grad_buckets(const Net& net, int64_t bucket_floats) {
  std::vector<const Net::Entry*> params;
  for (const auto& e : net.entries())
    if (!e.is_buffer) params.push_back(&e);
  std::sort(params.begin(), params.end(), [](const auto* a, const auto* b) { return a->offset < b->offset; });
  std::vector<GradBucket> out;
  int64_t total = 0;
  for (const auto* e : params) total = std::max(total, e->offset + shape_numel(e->param->shape));
  int64_t end = total;  // exclusive end of the bucket being built
  for (size_t i = params.size(); i-- > 0;) {
    const int64_t start = i == 0 ? 0 : params[i]->offset;
    if (end - start >= bucket_floats || i == 0) {
      out.push_back({start, end - start});
      end = start;
    }
  }
  return out;
}

uint64_t fnv1a64(const uint8_t* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

DataParallel::DataParallel(Communicator& comm, Net& net, int64_t bucket_bytes)
    : comm_(comm), net_(net),
      buckets_(make_grad_buckets(net, std::max<int64_t>(1, bucket_bytes / int64_t(sizeof(float))))),
      params_per_bucket_(buckets_.size(), 0),
      started_(buckets_.size(), 0) {
  for (const Net::Entry& e : net.entries()) {
    if (e.is_buffer) continue;
    size_t b = 0;
    while (b < buckets_.size() && !(e.offset >= buckets_[b].offset && e.offset < buckets_[b].offset + buckets_[b].size)) ++b;
    if (b == buckets_.size()) throw std::logic_error("DataParallel: parameter " + e.name + " is in no gradient bucket");
    param_index_.emplace(e.param, bucket_of_param_.size());
    bucket_of_param_.push_back(b);
    ++params_per_bucket_[b];
  }
  missing_ = params_per_bucket_;
  reported_.assign(bucket_of_param_.size(), 0);
}

std::function<void(Param&)> DataParallel::grad_ready_hook() {
  if (comm_.world_size() == 1) return {};
  return [this](Param& p) { grad_ready(p); };
}

void DataParallel::grad_ready(const Param& p) {
  const auto it = param_index_.find(&p);
  if (it == param_index_.end()) throw std::logic_error("DataParallel: gradient of a parameter not in this Net (" + p.name + ")");
  if (reported_[it->second]) throw std::logic_error("DataParallel: gradient of '" + p.name + "' reported twice in one step");
  reported_[it->second] = 1;
  const size_t b = bucket_of_param_[it->second];
  if (--missing_[b] > 0) return;
  comm_.start_all_reduce_mean(net_.flat_grads().data() + buckets_[b].offset, buckets_[b].size);
  started_[b] = 1;
}

void DataParallel::broadcast_state() {
  comm_.broadcast(net_.flat_params().data(), net_.flat_params().numel(), 0);
  broadcast_buffers();
}

void DataParallel::broadcast_buffers() {
  if (net_.flat_buffers().numel() > 0) comm_.broadcast(net_.flat_buffers().data(), net_.flat_buffers().numel(), 0);
}

void DataParallel::all_reduce_gradients() {
  if (comm_.world_size() == 1) return;
  float* g = net_.flat_grads().data();
  for (size_t b = 0; b < buckets_.size(); ++b)
    if (!started_[b]) comm_.start_all_reduce_mean(g + buckets_[b].offset, buckets_[b].size);
  comm_.wait_all_reduces();
  std::fill(started_.begin(), started_.end(), 0);
  std::fill(reported_.begin(), reported_.end(), 0);
  missing_ = params_per_bucket_;
}

void DataParallel::check_masks_equal(const InqState& inq, const std::string& when) {
  if (comm_.world_size() == 1) return;
  const int64_t n = net_.flat_params().numel();
  std::vector<uint8_t> host(static_cast<size_t>(n));
  net_.backend().copy_to_host(host.data(), inq.mask(), host.size());
  const uint64_t mine = fnv1a64(host.data(), host.size());
  uint64_t root = mine;
  comm_.host_broadcast(&root, sizeof(root), 0);
  double differs = mine != root ? 1.0 : 0.0;
  comm_.host_all_reduce_sum(&differs, 1);
  if (differs > 0)
    throw std::runtime_error("INQ masks differ between ranks " + when + ": " + std::to_string(int64_t(differs)) +
                             " rank(s) disagree with rank 0 (this rank's mask " +
                             (mine == root ? "matches" : "differs") +
                             "); the ranks' weights have drifted apart or the partition is not deterministic");
}

bool DataParallel::any(bool flag) {
  if (comm_.world_size() == 1) return flag;
  double v = flag ? 1.0 : 0.0;
  comm_.host_all_reduce_max(&v, 1);
  return v > 0;
}

}  // namespace inq
