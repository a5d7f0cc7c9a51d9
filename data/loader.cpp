// Loader: worker threads fill a ring of prefetch+1 reusable HostBatch slots (one held by the
// caller, `prefetch` being prepared ahead) and the caller takes them strictly in order.
//
// Order and determinism:
//  - Epoch e's permutation of the dataset is Fisher-Yates driven by an Rng seeded with
//    hash(seed, e) and uniform_below(), so it is the same with every standard library; without
//    shuffle it is the identity.
//  - Sharding truncates the permutation to a multiple of world_size (the last N mod W entries
//    are dropped, like drop_last, so every rank sees the same number of samples and takes the
//    same number of steps); rank r takes permutation positions r, r+W, r+2W, ... Evaluation with
//    world_size > 1 therefore skips up to W-1 samples per epoch.
//  - Sample at permutation position g gets its augmentation Rng seeded with
//    hash(hash(seed, e), g): independent of the worker that runs it, the worker count and the
//    rank count (W ranks with batch B draw exactly what 1 rank with batch W·B draws), which is
//    what bit-identical resume and rank-count invariance need.
//
// Work is claimed in chunks of a few samples under one mutex; the sample data is written outside
// the lock and published by the count update under the lock. Stopping (destructor, start_epoch,
// an error) bumps a generation counter that workers check between samples, then waits for the
// in-flight chunks to drain before slots are reused.
#include "data/loader.h"

#include <sched.h>

#include <cstdlib>

#include <algorithm>
#include <climits>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "core/counter_rng.h"
#include "data/transforms.h"

namespace inq {

namespace {
// A positive integer environment value, else 0 (unset, empty, malformed such as Slurm's "8(x2)").
int positive_env(const std::function<const char*(const char*)>& env, const char* name) {
  const char* v = env(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n <= INT_MAX) ? static_cast<int>(n) : 0;
}
}  // namespace

int default_loader_workers(int cpus_allowed, int hardware_threads, const std::function<const char*(const char*)>& env) {
  cpus_allowed = std::max(1, cpus_allowed);
  if (const int per_task = positive_env(env, "SLURM_CPUS_PER_TASK")) return std::min(per_task, cpus_allowed);
  if (cpus_allowed < hardware_threads) return cpus_allowed;  // bound by the launcher: this rank's share
  int local_ranks = 0;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (!local_ranks) local_ranks = positive_env(env, name);
  return std::max(1, cpus_allowed / std::max(1, local_ranks));
}

int default_loader_workers() {
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : hardware;
  return default_loader_workers(allowed, hardware, [](const char* name) { return std::getenv(name); });
}

namespace {

constexpr uint64_t kPermSalt = 0x7065726d75746500ull;    // "permute"
constexpr uint64_t kSampleSalt = 0x73616d706c657300ull;  // "samples"

struct Slot {
  HostBatch batch;
  int64_t index = -1;  // batch of the current epoch held here, -1 for none
  int64_t done = 0;    // samples finished (successfully or not)
  std::exception_ptr error;
  int64_t error_at = INT64_MAX;  // lowest failing position in the batch: deterministic report
};

// Removes the rows labelled kSkippedSample (unreadable evaluation images), keeping the order of
// the others; returns how many went.
int64_t drop_skipped(HostBatch& b, int64_t sample_numel) {
  int64_t kept = 0;
  for (int64_t i = 0; i < b.size; ++i) {
    if (b.labels[static_cast<size_t>(i)] == kSkippedSample) continue;
    if (kept != i) {
      b.labels[static_cast<size_t>(kept)] = b.labels[static_cast<size_t>(i)];
      std::copy_n(b.images.begin() + i * sample_numel, sample_numel, b.images.begin() + kept * sample_numel);
    }
    ++kept;
  }
  const int64_t dropped = b.size - kept;
  if (dropped) {
    b.size = kept;
    b.labels.resize(static_cast<size_t>(kept));
    b.images.resize(static_cast<size_t>(kept * sample_numel));
  }
  return dropped;
}

}  // namespace

struct Loader::Impl {
  std::shared_ptr<const Dataset> dataset;
  LoaderOptions opt;
  int64_t sample_numel = 0;
  int64_t per_rank = 0;     // samples this rank sees per epoch
  int64_t num_batches = 0;  // batches per epoch
  int64_t chunk = 1;        // samples per work claim

  std::mutex mu;
  std::condition_variable work_cv;   // workers wait for claimable work or stop
  std::condition_variable ready_cv;  // the caller waits for its batch
  std::condition_variable idle_cv;   // stopping waits for in-flight chunks
  std::vector<Slot> ring;
  std::vector<int64_t> perm;   // scratch, reused every epoch
  std::vector<int64_t> shard;  // dataset index per position of this rank
  bool started = false;
  int64_t epoch = 0;
  uint64_t sample_seed = 0;
  int64_t claim_batch = 0, claim_sample = 0;  // next work to hand out
  int64_t next_batch = 0;                     // next batch for the caller
  bool holding = false;                       // caller holds batch next_batch - 1
  int64_t skipped = 0;                        // kSkippedSample rows dropped this epoch
  int busy = 0;                               // chunks in flight
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;

  int64_t batch_len(int64_t b) const { return std::min(opt.batch_size, per_rank - b * opt.batch_size); }

  bool claimable() const {
    const int64_t limit = next_batch + static_cast<int64_t>(ring.size()) - (holding ? 1 : 0);
    return claim_batch < num_batches && claim_batch < limit;
  }

  // Ends the work of the current epoch; slots are free for reuse when it returns.
  void abort_locked(std::unique_lock<std::mutex>& lk) {
    generation.fetch_add(1);
    claim_batch = num_batches;
    claim_sample = 0;
    idle_cv.wait(lk, [&] { return busy == 0; });
  }

  void build_shard() {
    const int64_t n = dataset->size();
    perm.resize(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), int64_t{0});
    if (opt.shuffle && n > 1) {
      Rng rng(counter_hash(opt.seed ^ kPermSalt, static_cast<uint64_t>(epoch)));
      for (int64_t i = n - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
        std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
      }
    }
    shard.resize(static_cast<size_t>(per_rank));
    for (int64_t p = 0; p < per_rank; ++p)
      shard[static_cast<size_t>(p)] = perm[static_cast<size_t>(p * opt.world_size + opt.rank)];
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      work_cv.wait(lk, [&] { return stop.load() || claimable(); });
      if (stop.load()) return;
      const int64_t b = claim_batch, s0 = claim_sample, len = batch_len(b);
      const int64_t s1 = std::min(s0 + chunk, len);
      Slot& slot = ring[static_cast<size_t>(b) % ring.size()];
      if (s0 == 0) {  // first claim of batch b: its slot was released by the caller
        slot.index = b;
        slot.done = 0;
        slot.error = nullptr;
        slot.error_at = INT64_MAX;
        slot.batch.size = len;
        slot.batch.images.resize(static_cast<size_t>(len * sample_numel));  // within reserved capacity
        slot.batch.labels.resize(static_cast<size_t>(len));
      }
      claim_sample = s1;
      if (s1 == len) {
        ++claim_batch;
        claim_sample = 0;
      }
      const uint64_t gen = generation.load();
      const uint64_t seed = sample_seed;
      const int64_t ep = epoch;
      ++busy;
      lk.unlock();

      std::exception_ptr err;
      int64_t err_at = INT64_MAX;
      for (int64_t j = s0; j < s1; ++j) {
        if (stop.load(std::memory_order_relaxed) || generation.load(std::memory_order_relaxed) != gen) break;
        const int64_t pos = b * opt.batch_size + j;
        const int64_t index = shard[static_cast<size_t>(pos)];
        const auto global = static_cast<uint64_t>(pos * opt.world_size + opt.rank);
        Rng rng(counter_hash(seed, global));
        try {
          slot.batch.labels[static_cast<size_t>(j)] =
              dataset->get(index, slot.batch.images.data() + j * sample_numel, rng);
        } catch (const std::exception& e) {
          err = std::make_exception_ptr(std::runtime_error(describe_failure(index, ep, b, e.what())));
          err_at = j;
          break;
        } catch (...) {
          err = std::make_exception_ptr(std::runtime_error(describe_failure(index, ep, b, "unknown exception")));
          err_at = j;
          break;
        }
      }

      lk.lock();
      --busy;
      if (gen == generation.load()) {
        slot.done += s1 - s0;
        if (err && err_at < slot.error_at) {
          slot.error = err;
          slot.error_at = err_at;
        }
        if (slot.done == slot.batch.size) ready_cv.notify_all();
      }
      if (busy == 0) idle_cv.notify_all();
    }
  }

  std::string describe_failure(int64_t index, int64_t ep, int64_t b, const char* what) const {
    return "loader: " + dataset->describe() + ": sample " + std::to_string(index) + " (epoch " + std::to_string(ep) +
           ", batch " + std::to_string(b) + ") failed: " + what;
  }
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  if (!dataset) throw std::invalid_argument("Loader: null dataset");
  if (options.batch_size < 1)
    throw std::invalid_argument("Loader: batch_size must be >= 1, got " + std::to_string(options.batch_size));
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw std::invalid_argument("Loader: rank " + std::to_string(options.rank) + " outside world_size " +
                                std::to_string(options.world_size));
  if (options.workers < 0)
    throw std::invalid_argument("Loader: workers must be >= 0, got " + std::to_string(options.workers));
  if (options.prefetch < 1)
    throw std::invalid_argument("Loader: prefetch must be >= 1, got " + std::to_string(options.prefetch));
  d.dataset = std::move(dataset);
  d.opt = options;
  d.sample_numel = shape_numel(d.dataset->sample_shape());
  d.per_rank = d.dataset->size() / options.world_size;
  d.num_batches = options.drop_last ? d.per_rank / options.batch_size
                                    : (d.per_rank + options.batch_size - 1) / options.batch_size;

  int workers = options.workers;
  if (workers == 0) workers = default_loader_workers();
  // Small chunks keep all workers busy on one batch; bigger ones cut lock traffic for cheap samples.
  d.chunk = std::clamp<int64_t>(options.batch_size / (2 * static_cast<int64_t>(workers)), 1, 32);

  // All memory up front: steady-state batches only resize within capacity.
  d.ring.resize(static_cast<size_t>(options.prefetch) + 1);
  for (Slot& s : d.ring) {
    s.batch.images = decltype(s.batch.images)(HostAllocator<float>(options.host_memory));
    s.batch.images.reserve(static_cast<size_t>(options.batch_size * d.sample_numel));
    s.batch.labels.reserve(static_cast<size_t>(options.batch_size));
  }
  d.claim_batch = d.num_batches;  // nothing to do before start_epoch

  d.workers.reserve(static_cast<size_t>(workers));
  try {
    for (int i = 0; i < workers; ++i) d.workers.emplace_back([&d] { d.worker_loop(); });
  } catch (...) {
    {
      std::lock_guard<std::mutex> lk(d.mu);
      d.stop = true;
    }
    d.work_cv.notify_all();
    for (auto& t : d.workers) t.join();
    throw;
  }
}

Loader::~Loader() {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lk(d.mu);
    d.stop = true;
    d.generation.fetch_add(1);  // in-flight chunks stop after their current sample
  }
  d.work_cv.notify_all();
  for (auto& t : d.workers) t.join();
}

int64_t Loader::batches_per_epoch() const { return impl_->num_batches; }

namespace {
class BackendHostMemory final : public HostMemory {
 public:
  explicit BackendHostMemory(Backend& be) : be_(be) {}
  void* allocate(size_t bytes) override { return be_.allocate_host(bytes); }
  void deallocate(void* p) noexcept override { be_.free_host(p); }

 private:
  Backend& be_;
};
}  // namespace

std::shared_ptr<HostMemory> backend_host_memory(Backend& backend) {
  return std::make_shared<BackendHostMemory>(backend);
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& d = *impl_;
  if (epoch < 0) throw std::invalid_argument("Loader::start_epoch: negative epoch " + std::to_string(epoch));
  if (first_batch < 0 || first_batch > d.num_batches)
    throw std::invalid_argument("Loader::start_epoch: first_batch " + std::to_string(first_batch) + " outside [0, " +
                                std::to_string(d.num_batches) + "]");
  {
    std::unique_lock<std::mutex> lk(d.mu);
    d.abort_locked(lk);
    d.epoch = epoch;
    d.build_shard();
    d.sample_seed = counter_hash(d.opt.seed ^ kSampleSalt, static_cast<uint64_t>(epoch));
    for (Slot& s : d.ring) s.index = -1;
    d.claim_batch = first_batch;
    d.claim_sample = 0;
    d.next_batch = first_batch;
    d.holding = false;
    d.skipped = 0;
    d.started = true;
  }
  d.work_cv.notify_all();
}

const HostBatch* Loader::next() {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lk(d.mu);
  if (!d.started) throw std::logic_error("Loader::next called before start_epoch");
  for (;;) {
    if (d.holding) {  // the previous batch's slot can be refilled
      d.holding = false;
      d.work_cv.notify_all();
    }
    if (d.next_batch >= d.num_batches) return nullptr;
    const int64_t b = d.next_batch;
    Slot& slot = d.ring[static_cast<size_t>(b) % d.ring.size()];
    d.ready_cv.wait(lk, [&] { return slot.index == b && slot.done == slot.batch.size; });
    if (slot.error) {
      // The epoch ends here: the caller sees the error once, then nullptr until start_epoch.
      std::exception_ptr err = slot.error;
      d.abort_locked(lk);
      d.next_batch = d.num_batches;
      std::rethrow_exception(err);
    }
    d.holding = true;
    ++d.next_batch;
    d.skipped += drop_skipped(slot.batch, d.sample_numel);
    if (slot.batch.size > 0) return &slot.batch;  // a batch of skipped samples only: on to the next
  }
}

int64_t Loader::skipped() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->skipped;
}

}  // namespace inq
