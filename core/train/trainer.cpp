#include "core/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <exception>
#include <filesystem>
#include <sstream>

#include "core/comm/comm_factory.h"
#include "core/comm/data_parallel.h"
#include "core/comm/launch_env.h"
#include "core/inq/inq_state.h"
#include "core/io/atomic_file.h"
#include "core/kill_point.h"
#include "core/models/zoo.h"
#include "core/quant/quant_transform.h"
#include "core/prune/pruner.h"
#include "core/rng.h"
#include "core/train/checkpoint.h"
#include "core/train/data_factory.h"
#include "core/train/evaluate.h"
#include "core/train/inq_schedule.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/progress.h"
#include "core/train/train_step.h"
#include "data/loader.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop_signal = 0;

// With several ranks, a signal is acted on when the ranks agree on it (a host all-reduce): at an
// epoch's or stage's start and every this many steps, not every step.
constexpr int64_t kStopAgreementSteps = 32;

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {  // second signal: give up on the clean stop
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
}

// Keys that may change when resuming: where and how fast the run executes, not what it computes.
const std::vector<std::string> kResumeMutable = {"device", "threads", "data.workers", "data.root",
                                                 "train.log_every", "train.eval_batch_size",
                                                 "distributed.backend", "distributed.timeout_s",
                                                 "distributed.bucket_mb", "cuda.deterministic"};


std::string join(const std::vector<std::string>& v, size_t max_items = 12) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max_items) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

// As compared on resume: resolved (an older run's config.json upgraded, every default written out)
// and without `out`, so that configs differ only in the keys whose value differs.
nlohmann::json as_compared(const nlohmann::json& config) {
  nlohmann::json j = resolve_config(config);
  j.erase("out");
  return j;
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

std::string compact(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string percent(int64_t part, int64_t whole) {
  return fixed(whole ? 100.0 * double(part) / double(whole) : 0.0, 2) + "%";
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;  // blocking calls elsewhere resume; the loop polls the flag
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}
void request_stop(int signal_number) { g_stop_signal = signal_number; }
int stop_requested() { return g_stop_signal; }
void clear_stop_request() { g_stop_signal = 0; }

// Adds the sums of every rank (loss, top-1, top-5, samples, skipped) into `acc` on every rank.
void reduce_accumulator(Communicator& comm, Accumulator& acc) {
  if (comm.world_size() == 1) return;
  double v[5] = {acc.loss_sum, double(acc.top1), double(acc.top5), double(acc.samples), double(acc.skipped)};
  comm.host_all_reduce_sum(v, 5);
  acc.loss_sum = v[0];
  acc.top1 = static_cast<int64_t>(v[1]);
  acc.top5 = static_cast<int64_t>(v[2]);
  acc.samples = static_cast<int64_t>(v[3]);
  acc.skipped = static_cast<int64_t>(v[4]);
}

struct Trainer::Impl {
  TrainSettings s;
  RunOptions opt;
  std::string dir;
  std::string config_text;  // resolved config, as written to config.json and into checkpoints
  std::unique_ptr<Backend> be;  // declared before everything holding its memory
  // Data parallelism: the communicator (after `be`, whose stream NCCL uses); world size 1 gets
  // LocalCommunicator and the same steps as before. Only rank 0 (`root`) prints and writes files.
  LaunchInfo launch;
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<DataParallel> dp;
  bool root = true;
  double lr_scale = 1.0;  // distributed.lr_scaling linear: world size
  std::shared_ptr<const Dataset> train_set, test_set;
  std::unique_ptr<Loader> train_loader, test_loader;
  std::unique_ptr<Net> net;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<LrSchedule> schedule;  // FP32 runs
  std::unique_ptr<InqState> inq;         // INQ runs: mask and levels
  std::unique_ptr<InqPlan> plan;         // INQ runs: stages and their lr schedules
  std::unique_ptr<Pruner> prune;         // INQ runs with a prune section: the phase before stage 1
  // Training through a weight transform (baseline quantisers, pruning with splicing); null: none.
  // Checkpoints hold the latent weights, evaluation and the written model the transformed ones.
  std::unique_ptr<WeightTransform> transform;
  bool fresh = true;                     // not resumed: the reference evaluation is due
  Rng rng;  // per-step dropout seeds; saved in checkpoints
  TrainState state;
  int64_t steps_per_epoch = 0;
  int classes = 0;

  // Preallocated device and host buffers: the loop allocates nothing.
  std::shared_ptr<BatchUploader> batches;  // images and labels, double-buffered
  std::unique_ptr<SoftmaxCrossEntropy> loss;       // training: the config's label smoothing
  std::shared_ptr<SoftmaxCrossEntropy> eval_loss;  // evaluation: plain cross-entropy

  std::string path(const char* name) const { return (fs::path(dir) / name).string(); }
  void log(const std::string& line) const {
    if (!opt.log) return;
    std::fprintf(opt.log, "%s\n", line.c_str());
    std::fflush(opt.log);
  }

  void check_run_dir();
  void allocate_buffers();
  void print_header() const;
  MetricsRecord evaluate(int64_t epoch);
  double lr_at(int64_t step) const {
    return lr_scale * (plan ? plan->lr_at_step(step) : schedule->at_step(step));
  }
  void setup_distributed(const std::string& comm_backend);
  // distributed.sync_batchnorm with more than one rank: the communicator BatchNorm reduces over.
  Communicator* sync_batchnorm() const {
    return s.distributed.sync_batchnorm && comm->world_size() > 1 ? comm.get() : nullptr;
  }
  int stop_signal_all(int sig) const;  // the largest signal number of any rank (collective)
  // The signal to stop for, or 0. Ranks agree on signals only when `agree` (a collective: every
  // rank passes the same value at the same step); --stop-after-steps is the same on every rank.
  int stop_signal(bool agree) const {
    int sig = comm->world_size() == 1 || agree ? stop_signal_all(stop_requested()) : 0;
    if (!sig && opt.stop_after_steps >= 0 && state.global_step >= opt.stop_after_steps) sig = SIGINT;
    return sig;
  }
  void checkpoint(TrainState st) {
    if (!root) return;
    if (plan) {
      const InqPhase ph = plan->at_epoch(st.epoch);
      st.inq_stage = ph.stage;
      st.inq_stage_epoch = ph.epoch_in_phase;
    }
    st.world_size = comm->world_size();
    try {
      save_checkpoint(path("checkpoint.safetensors"), *net, *sgd, st, config_text, inq.get(), prune.get());
    } catch (const NonFiniteValues& e) {
      throw TrainingDiverged(std::string(e.what()) + " (epoch " + std::to_string(st.epoch) + ", step " +
                             std::to_string(st.batch) + "); stopping. The checkpoint in " + dir +
                             " (if any) was left as it was.");
    }
  }
  void setup_inq();
  void check_resumed_inq() const;
  bool stage_due(const InqPhase& ph) const {
    return !ph.is_float && ph.epoch_in_phase == 0 && inq->stages_begun() == ph.stage;
  }
  void begin_stage(const InqPhase& ph, int64_t epoch);
  void prune_steps(const InqPhase& ph);
  void finish_prune();
  void tag_phase(MetricsRecord& r, const InqPhase& ph) const {
    if (!ph.is_prune) return tag(r, ph.stage, ph.portion);
    r.phase = "prune";
    r.sparsity = double(prune->pruned_now()) / double(prune->total_weights());
  }
  void tag(MetricsRecord& r, int64_t stage, double portion) const {
    r.inq = true;
    r.stage = stage;
    r.portion = portion;
  }
};

void Trainer::Impl::check_run_dir() {
  const std::string config_path = path("config.json");
  const bool has_config = fs::exists(config_path);
  if (opt.resume) {
    if (!has_config || !fs::exists(path("checkpoint.safetensors")))
      throw std::runtime_error("--resume " + dir + ": no run to resume there (need config.json and checkpoint.safetensors)");
  }
  if (!has_config) return;
  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(config_path + ": unreadable run config: " + e.what());
  }
  const auto diff = json_diff(as_compared(saved), as_compared(s.resolved));
  if (diff.empty()) {
    if (!opt.resume) log("note: " + dir + " holds an earlier run of this config; starting it over (--resume continues it)");
    return;
  }
  if (!opt.resume)
    throw ConfigError("run directory " + dir + " holds a run of a different config (differs in: " + join(diff) +
                      "); choose another --out, or --resume " + dir + " to continue that run");
  std::vector<std::string> fixed_keys;
  for (const auto& d : diff)
    if (std::find(kResumeMutable.begin(), kResumeMutable.end(), d) == kResumeMutable.end()) fixed_keys.push_back(d);
  if (!fixed_keys.empty())
    throw ConfigError("--resume " + dir + ": the config differs from the run's in " + join(fixed_keys) +
                      "; only " + join(kResumeMutable) + " may change on resume");
  log("note: resuming with changed " + join(diff));
}

void Trainer::Impl::allocate_buffers() {
  const int64_t rows = std::max(s.batch_size, s.eval_batch_size);
  batches = std::make_shared<BatchUploader>(*be, net->input_chw(), rows);
  loss = std::make_unique<SoftmaxCrossEntropy>(*be, rows, classes, s.label_smoothing);
  eval_loss = std::make_shared<SoftmaxCrossEntropy>(*be, rows, classes, 0.0);
}

void Trainer::Impl::print_header() const {
  std::ostringstream os;
  os << "model    " << net->model_name() << "  " << net->num_params() << " parameters, input "
     << shape_str(net->input_chw()) << ", " << classes << " classes\n"
     << "backend  " << be->description();
  if (be->device() == Device::CPU && (s.cuda.allow_tf32 || !s.cuda.deterministic))
    os << " (the cuda section has no effect on the cpu)";
  os << "\n"
     << "data     " << train_set->describe() << " / " << test_set->describe() << "\n"
     << "train    " << s.epochs << " epochs x " << steps_per_epoch << " steps of " << batch_description(s.batch_size, comm->world_size()) << ", lr "
     << s.optimizer.lr << " " << s.lr_schedule.type << ", momentum " << s.optimizer.momentum << ", weight decay "
     << s.optimizer.weight_decay << "\n"
     << "run dir  " << dir;
  if (comm->world_size() > 1)
    os << "\ndist     " << comm->description() << " (" << launch.launcher << " launch): " << comm->world_size()
       << " ranks x batch " << s.batch_size << " = global batch " << comm->world_size() * s.batch_size << "; lr "
       << (lr_scale != 1.0 ? "x " + compact(lr_scale) + " (linear scaling)" : "not scaled") << "; "
       << dp->buckets().size() << " gradient buckets of <= " << compact(s.distributed.bucket_mb)
       << " MB, all-reduced while backward runs; BatchNorm statistics "
       << (s.distributed.sync_batchnorm ? "synchronised over the ranks (sync_batchnorm)"
                                        : "per rank (rank 0's broadcast before evaluation)");
  if (inq) {
    const InqSettings& q = s.inq;
    std::string portions;
    for (double p : q.options.portions) portions += (portions.empty() ? "" : " ") + compact(p);
    os << "\ninq      " << q.options.bits << "-bit, "
       << (q.options.partition == InqPartition::Random ? "random" : "magnitude") << " partition, portions "
       << portions << "; " << inq->tensors().size() << " tensors, " << inq->total_quantized() << " of "
       << net->num_params() << " parameters quantized\n"
       << "stages   " << q.num_stages() << " stages, epochs";
    for (int64_t e : q.stage_epochs) os << " " << e;
    if (q.float_epochs) os << " + " << q.float_epochs << " float epochs";
    os << "; lr " << (q.restart_lr ? "restarted each stage" : "one schedule over all epochs") << ", momentum "
       << (q.reset_momentum ? "reset" : "kept") << " at stage start, BatchNorm re-estimation "
       << (q.bn_recalibration_batches ? "over " + std::to_string(q.bn_recalibration_batches) + " batches" : "off");
  }
  if (const auto* q = dynamic_cast<const QuantTransform*>(transform.get()))
    os << "\nquant    " << quant_method_name(s.quant.method) << " (" << s.quant.bits << "-bit), straight-through; "
       << q->tensors().size() << " tensors, " << q->total_quantized() << " of " << net->num_params()
       << " parameters quantised";
  if (prune) {
    const PruneSettings& p = s.prune;
    os << "\nprune    " << p.epochs << " epochs before stage 1, sparsity raised in " << p.steps << " "
       << (p.ramp == PruneRamp::Cubic ? "cubic" : "linear") << " steps to " << prune->target_pruned() << " of "
       << prune->total_weights() << " quantised weights ("
       << percent(prune->target_pruned(), prune->total_weights()) << "), "
       << (p.splicing ? "splicing (mask every " + std::to_string(p.mask_every) + " steps, margin " +
                            compact(p.splicing_margin) + ")"
                      : "pruned weights frozen at once")
       << "; INQ portions count the survivors";
  }
  if (opt.resume)
    os << "\nresume   from epoch " << state.epoch << (state.batch ? ", step " + std::to_string(state.batch) : "")
       << " (global step " << state.global_step << ")"
       << (plan && state.epoch < plan->total_epochs() ? ", " + plan->label(plan->at_epoch(state.epoch)) : "");
  else if (!s.init_weights.empty())
    os << "\ninit     " << s.init_weights;
  log(os.str());
}

MetricsRecord Trainer::Impl::evaluate(int64_t epoch) {
  const auto t0 = Clock::now();
  // The training buffers serve evaluation too (sized for max(batch_size, eval_batch_size)).
  dp->broadcast_buffers();  // rank 0's BatchNorm statistics on every rank, as PyTorch DDP does
  const TransformedWeights transformed(transform.get(), *net);
  Accumulator acc = inq::evaluate(*net, *test_loader, EvalBuffers{batches, eval_loss});
  reduce_accumulator(*comm, acc);  // every rank evaluated its shard of the test set
  MetricsRecord r;
  r.epoch = epoch;
  r.global_step = state.global_step;
  r.split = "test";
  r.loss = acc.mean_loss();
  r.top1 = acc.top1_rate();
  r.top5 = acc.top5_rate();
  r.evaluated = acc.samples;  // unreadable test images are skipped, not replaced
  r.skipped = acc.skipped;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.images_per_second = r.seconds > 0 ? static_cast<double>(acc.samples) / r.seconds : 0.0;
  return r;
}

Trainer::Trainer(Config config, const RunOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& t = *impl_;
  t.opt = options;
  // Probing CUDA can take a while (driver initialisation): only when the default is needed.
  const bool cuda_ok = !config.has("device") && cuda_available(nullptr);
  t.s = read_train_settings(config, cuda_ok);
  t.dir = t.opt.out.empty() ? t.s.out : t.opt.out;
  t.s.out = t.dir;
  t.s.resolved["out"] = t.dir;
  t.config_text = t.s.resolved.dump(2) + "\n";
  t.launch = detect_launch();
  const std::string comm_backend = resolve_comm_backend(t.s.distributed.backend, parse_device(t.s.device), t.launch);
  int cuda_device = 0;
  if (parse_device(t.s.device) == Device::CUDA && t.launch.world_size > 1 && cuda_device_count() > 0)
    cuda_device = device_for_local_rank(t.launch.local_rank, cuda_device_count());
  t.be = make_backend(parse_device(t.s.device), backend_options(t.s, cuda_device));
  t.setup_distributed(comm_backend);
  t.check_run_dir();
  DataSplits splits = make_data_splits(t.s.data, t.s.model);
  t.train_set = std::move(splits.train);
  t.test_set = std::move(splits.test);
  t.net = make_model(t.s.model);
  t.net->materialize(*t.be, t.s.seed);
  t.classes = t.net->num_classes();
  t.sgd = std::make_unique<Sgd>(*t.net, t.s.optimizer);

  LoaderOptions lo;
  lo.batch_size = t.s.batch_size;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.workers = t.s.data.workers;
  lo.seed = t.s.seed;
  lo.rank = t.comm->rank();  // each rank its shard of every epoch (and of the test set)
  lo.world_size = t.comm->world_size();
  lo.host_memory = backend_host_memory(*t.be);  // pinned on CUDA: uploads run asynchronously
  t.train_loader = std::make_unique<Loader>(t.train_set, lo);
  t.steps_per_epoch = t.train_loader->batches_per_epoch();
  if (t.steps_per_epoch < 1)
    throw ConfigError("train.batch_size: " + std::to_string(t.s.batch_size) + " is larger than the training set (" +
                      std::to_string(t.train_set->size()) + " images)");
  lo.batch_size = t.s.eval_batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  t.test_loader = std::make_unique<Loader>(t.test_set, lo);
  if (t.s.inq.enabled)
    t.plan = std::make_unique<InqPlan>(t.s.inq, t.s.lr_schedule, t.steps_per_epoch,
                                       t.s.prune.enabled ? t.s.prune.epochs : 0);
  else
    t.schedule = std::make_unique<LrSchedule>(t.s.lr_schedule, t.s.epochs, t.steps_per_epoch);
  t.rng = Rng(t.s.seed ^ 0x9e3779b97f4a7c15ull);
  t.fresh = !t.opt.resume;

  if (t.opt.resume) {
    if (t.s.inq.enabled) t.setup_inq();  // levels and mask come from the checkpoint below
    t.state =
        load_checkpoint(t.path("checkpoint.safetensors"), *t.net, *t.sgd, nullptr, t.inq.get(), t.prune.get());
    try {
      t.rng.set_state(t.state.rng_state);
    } catch (const std::exception& e) {
      throw std::runtime_error(t.path("checkpoint.safetensors") + ": " + e.what());
    }
    if (t.state.epoch < 0 || t.state.epoch > t.s.epochs || t.state.batch < 0 || t.state.batch >= t.steps_per_epoch)
      throw std::runtime_error(t.path("checkpoint.safetensors") + ": position (epoch " + std::to_string(t.state.epoch) +
                               ", step " + std::to_string(t.state.batch) + ") does not fit this config");
    if (t.state.world_size != t.comm->world_size()) {
      const std::string ranks = std::to_string(t.state.world_size) + " rank(s)";
      if (t.state.batch > 0)
        throw std::runtime_error(t.path("checkpoint.safetensors") + ": written in the middle of an epoch by " + ranks +
                                 ", and each rank's share of that epoch depends on the number of ranks; resume it with " +
                                 ranks + " (this run has " + std::to_string(t.comm->world_size()) + ")");
      t.log("note: the checkpoint was written by " + ranks + ", this run has " + std::to_string(t.comm->world_size()) +
            ": the global batch changes from " + std::to_string(t.state.world_size * t.s.batch_size) + " to " +
            std::to_string(t.comm->world_size() * t.s.batch_size));
    }
    if (t.inq) t.check_resumed_inq();
  } else if (!t.s.init_weights.empty()) {
    if (!fs::is_regular_file(t.s.init_weights)) throw ConfigError(missing_weights_message(t.s.init_weights));
    LoadReport loaded;
    try {
      loaded = load_weights(t.s.init_weights, *t.net, LoadWeightsOptions{t.s.init_partial, t.s.init_skip});
    } catch (const std::exception& e) {
      throw ConfigError(std::string("init.weights: ") + e.what() +
                        (t.s.init_partial ? "" : "\n(init.partial: true or init.skip loads only what fits)"));
    }
    if (!loaded.skipped.empty() || !loaded.ignored.empty()) t.log(describe_load(t.s.init_weights, loaded));
    if (t.s.inq.enabled) t.setup_inq();  // n1 fixed once, from these pretrained weights
  }
  if (t.s.quant.enabled) t.transform = make_quant_transform(*t.net, t.s.quant);  // stateless: resumes as is
  t.state.rng_state = t.rng.state();
  t.allocate_buffers();
  // Every rank starts from rank 0's state; the INQ masks must already agree (resume).
  t.dp = std::make_unique<DataParallel>(*t.comm, *t.net, static_cast<int64_t>(t.s.distributed.bucket_mb * 1048576.0));
  t.dp->broadcast_state();
  if (t.inq) t.dp->check_masks_equal(*t.inq, "after loading the checkpoint");
  if (!t.root && t.opt.resume) t.state.train_loss_sum = 0, t.state.train_top1 = t.state.train_top5 = 0,
                                t.state.train_samples = 0;  // rank 0's checkpoint holds the sums of all ranks
  // Nobody may still be reading the run directory when rank 0 rewrites it.
  t.comm->barrier();
  if (!t.root) return;

  // Everything is validated: only now touch the run directory.
  fs::create_directories(t.dir);
  write_file_atomic(t.path("config.json"), t.config_text);
  MetricsWriter metrics(t.path("metrics.jsonl"));
  if (t.opt.resume) {
    metrics.truncate_after(t.state.epoch);
  } else {
    for (const char* stale : {"metrics.jsonl", "checkpoint.safetensors", "model.safetensors"}) fs::remove(t.path(stale));
  }
  t.print_header();
}

void Trainer::Impl::setup_distributed(const std::string& comm_backend) {
  comm = make_communicator(comm_backend, s.distributed.timeout_s, launch, *be);
  root = comm->rank() == 0;
  if (!root) opt.log = nullptr;  // one voice: rank 0 prints
  if (s.distributed.lr_scaling == "linear") lr_scale = comm->world_size();
}

int Trainer::Impl::stop_signal_all(int sig) const {
  if (comm->world_size() == 1) return sig;
  double v = sig;
  comm->host_all_reduce_max(&v, 1);
  return static_cast<int>(v);
}

void Trainer::Impl::setup_inq() {
  check_inq_patterns(s.inq, *net);
  try {
    inq = std::make_unique<InqState>(*net, s.inq.options);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  if (s.prune.enabled) {
    prune = std::make_unique<Pruner>(*net, *inq, s.prune, make_prune_ops(*be));
    transform = prune->make_splice_transform();  // splicing: W ⊙ T while the prune phase lasts
  }
}

// The checkpoint's INQ state must sit where the stage plan says its position is: stage k's
// projection happens before its first step, so mid-stage stages_begun is k + 1.
void Trainer::Impl::check_resumed_inq() const {
  const InqPhase ph = plan->at_epoch(state.epoch);
  const int begun = inq->stages_begun();
  bool ok;
  if (prune) {
    // Prune steps are taken at epoch starts; the phase ends with stage 1's projection.
    const int64_t due = ph.is_prune ? prune_steps_through(s.prune, ph.epoch_in_phase) : s.prune.steps;
    const int64_t before =
        ph.is_prune && ph.epoch_in_phase > 0 ? prune_steps_through(s.prune, ph.epoch_in_phase - 1) : 0;
    const bool at_start = state.batch == 0;
    const bool prune_ok = ph.is_prune ? !prune->finished() && prune->steps_done() <= due &&
                                            prune->steps_done() >= (at_start ? before : due)
                                      : prune->finished() == (begun > 0) && (begun > 0 || prune->steps_done() == due);
    if (!prune_ok)
      throw std::runtime_error(path("checkpoint.safetensors") + ": pruning state (" +
                               std::to_string(prune->steps_done()) + " steps, " +
                               (prune->finished() ? "finished" : "not finished") + ") does not fit epoch " +
                               std::to_string(state.epoch) + " of this config's plan");
  }
  if (ph.is_prune)
    ok = begun == 0;
  else if (state.epoch == plan->total_epochs() || ph.is_float)
    ok = begun == plan->num_stages();
  else if (ph.epoch_in_phase == 0 && state.batch == 0)
    ok = begun == ph.stage || begun == ph.stage + 1;
  else
    ok = begun == ph.stage + 1;
  if (!ok || (state.inq_stage != ph.stage || state.inq_stage_epoch != ph.epoch_in_phase))
    throw std::runtime_error(path("checkpoint.safetensors") + ": INQ state (" + std::to_string(begun) +
                             " stages begun, stage " + std::to_string(state.inq_stage) + " epoch " +
                             std::to_string(state.inq_stage_epoch) + ") does not fit epoch " +
                             std::to_string(state.epoch) + " of this config's stage plan");
}

void Trainer::Impl::prune_steps(const InqPhase& ph) {
  const int64_t before = prune->steps_done();
  prune->take_steps(ph.epoch_in_phase, sgd->momentum().data());
  dp->check_masks_equal(*inq, "after prune step " + std::to_string(prune->steps_done()));
  log("prune step " + std::to_string(prune->steps_done()) + "/" + std::to_string(s.prune.steps) +
      (prune->steps_done() - before > 1 ? " (with the steps before it)" : "") + ": " +
      std::to_string(prune->pruned_now()) + " of " + std::to_string(prune->total_weights()) + " quantised weights (" +
      percent(prune->pruned_now(), prune->total_weights()) + ") " +
      (s.prune.splicing ? "masked (splicing)" : "pruned and frozen as zeros"));
}

void Trainer::Impl::finish_prune() {
  prune->finish(sgd->momentum().data());
  dp->check_masks_equal(*inq, "at the end of the prune phase");
  log("prune phase done: " + std::to_string(prune->pruned_now()) + " of " + std::to_string(prune->total_weights()) +
      " quantised weights (" + percent(prune->pruned_now(), prune->total_weights()) +
      ") frozen as zeros; INQ's levels fixed over the survivors");
}

void Trainer::Impl::begin_stage(const InqPhase& ph, int64_t epoch) {
  const auto t0 = Clock::now();
  if (prune && !prune->finished()) finish_prune();  // stage 1 starts from the pruned model
  const int64_t before = inq->total_frozen();
  inq->begin_stage(ph.stage, sgd->momentum().data());  // projects the newly frozen, zeroes their momentum
  dp->check_masks_equal(*inq, "after the projection of stage " + std::to_string(ph.stage + 1));
  kill_point("stage_projected");
  if (s.inq.reset_momentum) sgd->zero_momentum();
  std::string bn;
  if (s.inq.bn_recalibration_batches > 0) {
    const int layers = recalibrate_batchnorm(
        *net, *train_loader, epoch, s.inq.bn_recalibration_batches,
        [this](const HostBatch& b) { return batches->upload(b).images; }, s.seed ^ (0xb4ull << 56) ^ uint64_t(ph.stage),
        sync_batchnorm());
    bn = layers ? "; BatchNorm statistics of " + std::to_string(layers) + " layers re-estimated over " +
                      std::to_string(s.inq.bn_recalibration_batches) + " batches"
                : "; no BatchNorm layer to re-estimate";
  }
  log("stage " + std::to_string(ph.stage + 1) + "/" + std::to_string(plan->num_stages()) + " (σ=" +
      compact(ph.portion) + "): froze " + std::to_string(inq->total_frozen() - before) + " weights, " +
      std::to_string(inq->total_frozen()) + " of " + std::to_string(inq->total_quantized()) + " (" +
      percent(inq->total_frozen(), inq->total_quantized()) + ") now fixed" +
      (s.inq.reset_momentum ? "; momentum reset" : "") + bn + " (" +
      format_duration(std::chrono::duration<double>(Clock::now() - t0).count()) + ")");
}

Trainer::~Trainer() = default;
const InqState* Trainer::inq_state() const { return impl_->inq.get(); }
const TrainSettings& Trainer::settings() const { return impl_->s; }
const std::string& Trainer::run_dir() const { return impl_->dir; }
Net& Trainer::net() { return *impl_->net; }

// A failing rank ends the whole job at once (its peers would wait for it in the next collective).
TrainSummary Trainer::run() {
  Impl& t = *impl_;
  if (t.comm->world_size() == 1) return run_unguarded();
  try {
    return run_unguarded();
  } catch (const TrainingDiverged& e) {
    t.comm->abort(std::string("training diverged: ") + e.what(), 3);
  } catch (const std::exception& e) {
    t.comm->abort(std::string("error: ") + e.what(), 1);
  }
  std::terminate();  // not reached: abort() ends the process
}

TrainSummary Trainer::run_unguarded() {
  Impl& t = *impl_;
  TrainSummary sum;
  const MetricsWriter metrics(t.path("metrics.jsonl"));
  Progress progress(t.opt.log, t.s.epochs, t.steps_per_epoch, t.s.log_every);

  if (t.inq && t.fresh) {
    // The pretrained weights' accuracy: the reference every stage is measured against.
    MetricsRecord ref = t.evaluate(0);
    t.tag(ref, -1, 0.0);
    if (t.root) metrics.append(ref);
    t.log("reference (pretrained weights, before stage 1): test loss " + fixed(ref.loss, 4) + " top1 " +
          fixed(100 * ref.top1, 2) + "% top5 " + fixed(100 * ref.top5, 2) + "%");
    t.fresh = false;
  }

  // The numbers of each step come back with one asynchronous copy, read a step later: `pending`
  // holds the steps whose sums are on their way (at most two).
  struct PendingStep {
    int64_t batch;  // 1-based step of the epoch
    int64_t global_step;
    int n;
    double lr;
  };
  std::vector<PendingStep> pending;
  // Takes the oldest pending step's sums into `acc`; a non-finite loss stops the run here, before
  // any checkpoint could hold the weights it produced.
  auto take_oldest = [&](int64_t epoch, Accumulator& acc) {
    const PendingStep p = pending.front();
    pending.erase(pending.begin());
    const LossSums sums = t.loss->take_sums();
    const double batch_loss = sums.batch_loss_sum / p.n;
    if (!std::isfinite(batch_loss)) {
      progress.end_line();
      throw TrainingDiverged(std::string("loss is ") + (std::isnan(batch_loss) ? "NaN" : "infinite") + " at epoch " +
                             std::to_string(epoch + 1) + ", step " + std::to_string(p.batch) + "/" +
                             std::to_string(t.steps_per_epoch) + " (global step " + std::to_string(p.global_step) +
                             "); stopping. The checkpoint in " + t.dir + " (if any) was left as it was.");
    }
    acc.loss_sum = sums.loss_sum;
    acc.top1 = sums.top1;
    acc.top5 = sums.top5;
    acc.samples += p.n;
    sum.step_losses.push_back(batch_loss);
    progress.step(p.batch - 1, p.n, acc.mean_loss(), p.lr);
  };
  auto take_all = [&](int64_t epoch, Accumulator& acc) {
    while (!pending.empty()) take_oldest(epoch, acc);
  };

  // Checkpoints the position (epoch, batch) and reports the stop; the caller returns `sum`.
  auto stop = [&](int sig, int64_t epoch, int64_t batch, Accumulator acc, double seconds) {
    take_all(epoch, acc);
    progress.end_line();
    reduce_accumulator(*t.comm, acc);  // rank 0 checkpoints the running sums of all ranks
    t.checkpoint(TrainState{epoch, batch, t.state.global_step, t.rng.state(), acc.loss_sum, acc.top1, acc.top5,
                            acc.samples, seconds});
    t.log("stopped by " + std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + " at epoch " + std::to_string(epoch + 1) +
          (t.plan ? " (" + t.plan->label(t.plan->at_epoch(epoch)) + ")" : "") + ", step " + std::to_string(batch) + "/" +
          std::to_string(t.steps_per_epoch) + ": checkpoint saved to " + t.path("checkpoint.safetensors"));
    sum.stop_signal = sig;
    sum.epochs_done = epoch;
    sum.global_step = t.state.global_step;
  };
  const TrainStepParts parts{*t.net, *t.loss, *t.sgd, t.dp.get(), t.sync_batchnorm(), t.transform.get()};

  for (int64_t epoch = t.state.epoch; epoch < t.s.epochs; ++epoch) {
    Accumulator acc{t.state.train_loss_sum, t.state.train_top1, t.state.train_top5, t.state.train_samples};
    const double seconds_before = t.state.train_seconds;
    int64_t batch = t.state.batch;
    InqPhase ph;
    std::string label;
    if (t.plan) {
      ph = t.plan->at_epoch(epoch);
      label = t.plan->label(ph);
      if (t.prune && ph.is_prune && t.prune->step_due(ph.epoch_in_phase)) {
        if (const int sig = t.stop_signal(true)) {
          stop(sig, epoch, batch, acc, seconds_before);
          return sum;
        }
        kill_point("prune_step");
        t.prune_steps(ph);
      }
      if (t.stage_due(ph)) {
        // A stop right at the stage boundary leaves the stage unbegun: resume projects it.
        if (const int sig = t.stop_signal(true)) {
          stop(sig, epoch, batch, acc, seconds_before);
          return sum;
        }
        kill_point("stage_boundary");
        t.begin_stage(ph, epoch);
      }
    }
    double lr = t.lr_at(t.state.global_step);
    t.loss->set_sums(acc.loss_sum, acc.top1, acc.top5);
    t.train_loader->start_epoch(epoch, batch);
    progress.start_epoch(epoch, label);
    const auto t0 = Clock::now();
    auto seconds = [&] { return seconds_before + std::chrono::duration<double>(Clock::now() - t0).count(); };
    const uint8_t* frozen = t.inq ? t.inq->mask() : nullptr;

    for (int64_t step = 0; batch < t.steps_per_epoch; ++step) {
      if (const int sig = t.stop_signal(step % kStopAgreementSteps == 0)) {
        stop(sig, epoch, batch, acc, seconds());
        return sum;
      }
      const HostBatch* b = t.batches->next(*t.train_loader);
      if (!b)
        throw std::runtime_error("the loader ended epoch " + std::to_string(epoch + 1) + " after " +
                                 std::to_string(batch) + " of " + std::to_string(t.steps_per_epoch) + " batches");
      const int n = static_cast<int>(b->size);
      const BatchUploader::DeviceBatch db = t.batches->upload(*b);  // overlaps the previous step's tail on CUDA
      lr = t.lr_at(t.state.global_step);
      if (t.prune && ph.is_prune) t.prune->before_step(t.state.global_step);  // splicing: T every mask_every steps
      train_step(parts, StepInput{db.images, db.labels, t.rng.next_u64(), lr, frozen});
      ++t.state.global_step;
      ++batch;
      t.loss->request_sums();
      pending.push_back({batch, t.state.global_step, n, lr});
      if (pending.size() == 2) take_oldest(epoch, acc);  // the previous step's, done by now or soon
      kill_point(ph.is_float ? "float_epoch_step" : "train_step");
    }
    take_all(epoch, acc);
    progress.end_line();
    reduce_accumulator(*t.comm, acc);  // the epoch's train line covers every rank's images

    EpochResult er;
    er.train.epoch = epoch + 1;
    er.train.global_step = t.state.global_step;
    er.train.split = "train";
    er.train.loss = acc.mean_loss();
    er.train.top1 = acc.top1_rate();
    er.train.top5 = acc.top5_rate();
    er.train.seconds = seconds();
    er.train.lr = lr;
    er.train.images_per_second = er.train.seconds > 0 ? static_cast<double>(acc.samples) / er.train.seconds : 0.0;
    t.state = TrainState{epoch + 1, 0, t.state.global_step, t.rng.state(), 0.0, 0, 0, 0, 0.0};
    er.test = t.evaluate(epoch + 1);
    er.test.lr = lr;
    const bool stage_end = t.plan && ph.epoch_in_phase + 1 == ph.epochs;
    if (t.plan) {
      t.tag_phase(er.train, ph);
      t.tag_phase(er.test, ph);
      er.test.stage_end = stage_end && !ph.is_prune;
      er.test.phase_end = stage_end && ph.is_prune;
    }
    if (t.root) {
      metrics.append(er.train);
      metrics.append(er.test);
    }
    kill_point("epoch_end");
    if ((epoch + 1) % t.s.checkpoint_every == 0 || epoch + 1 == t.s.epochs || stage_end) t.checkpoint(t.state);
    sum.epochs.push_back(er);
    t.log((label.empty() ? "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(t.s.epochs) : label) +
          "  train loss " + fixed(er.train.loss, 4) + " top1 " + fixed(100 * er.train.top1, 2) + "%  test loss " +
          fixed(er.test.loss, 4) + " top1 " + fixed(100 * er.test.top1, 2) + "% top5 " + fixed(100 * er.test.top5, 2) +
          "%  lr " + fixed(lr, 6) + "  " + fixed(er.train.images_per_second, 0) + " img/s  " +
          format_duration(er.train.seconds + er.test.seconds));
    if (const int64_t bad = t.train_set->bad_samples() + t.test_set->bad_samples())
      t.log("bad files so far: " + std::to_string(bad) + " (" + std::to_string(t.train_set->bad_samples()) +
            " training, " + std::to_string(t.test_set->bad_samples()) +
            " test), each logged once; training replaces them, evaluation leaves them out");
    if (stage_end) {
      t.log((ph.is_prune   ? "prune epochs done (sparsity " + fixed(100 * er.test.sparsity, 2) + "%)"
             : ph.is_float ? std::string("float epochs") + " done (σ=" + compact(ph.portion) + ")"
                           : "stage " + std::to_string(ph.stage + 1) + "/" + std::to_string(t.plan->num_stages()) +
                                 " done (σ=" + compact(ph.portion) + ")") +
            ": test top1 " + fixed(100 * er.test.top1, 2) + "%");
      if (!ph.is_float && t.opt.on_stage_end) t.opt.on_stage_end(ph.stage, *t.net, *t.inq);
    }
  }

  std::string quantized;
  if (t.inq) {
    // Every quantized weight must be frozen at a level by now; checked, not assumed.
    const QuantizedSummary q = verify_quantized(*t.net, *t.inq);
    quantized = "; " + std::to_string(q.weights) + " weights in " + std::to_string(q.tensors) +
                " tensors, all in their level sets, " + percent(q.zeros, q.weights) + " zeros";
  }
  t.dp->broadcast_buffers();
  if (t.transform) t.transform->apply(*t.net);  // the model is T(W); the latent W stay in the checkpoint
  if (t.root) {
    try {
      save_model(t.path("model.safetensors"), *t.net, t.inq.get(),
                 t.transform ? t.transform->model_metadata() : std::map<std::string, std::string>{});
    } catch (const NonFiniteValues& e) {
      throw TrainingDiverged(std::string(e.what()) + "; stopping.");
    }
  }
  if (sum.epochs.empty())
    t.log("run already complete (" + std::to_string(t.s.epochs) + " epochs); rewrote " + t.path("model.safetensors") +
          quantized);
  else
    t.log("done: " + t.path("model.safetensors") + quantized);
  sum.completed = true;
  sum.epochs_done = t.s.epochs;
  sum.global_step = t.state.global_step;
  return sum;
}

}  // namespace inq
