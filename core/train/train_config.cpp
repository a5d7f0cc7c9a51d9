#include "core/train/train_config.h"

#include <algorithm>
#include <set>

#include "data/fashion_mnist.h"

namespace inq {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string file_stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  const auto dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return base.empty() || base.front() == '<' ? "run" : base;
}

int64_t positive(Config& c, const std::string& key, int64_t def) {
  const int64_t v = c.get_int(key, def);
  if (v < 1) throw ConfigError(key + ": must be >= 1 (got " + std::to_string(v) + ")");
  return v;
}

int64_t non_negative(Config& c, const std::string& key, int64_t def) {
  const int64_t v = c.get_int(key, def);
  if (v < 0) throw ConfigError(key + ": must be >= 0 (got " + std::to_string(v) + ")");
  return v;
}

// A key that belongs to another dataset is an error rather than silently ignored.
void reject_if_present(Config& c, const std::string& key, const std::string& dataset) {
  if (c.has(key)) throw ConfigError(key + ": not used with data.dataset \"" + dataset + "\"");
}

const char* const kImageNetKeys[] = {"data.train_list", "data.val_list",  "data.val_labels",   "data.devkit_wnids",
                                     "data.eval_resize", "data.min_scale", "data.reduced_decode", "data.max_bad_share",
                                     "data.max_bad_share_eval", "data.region_decode"};

void reject_imagenet_keys(Config& c, const std::string& dataset) {
  for (const char* k : kImageNetKeys) reject_if_present(c, k, dataset);
}

void read_imagenet(Config& c, TrainSettings& s) {
  DataSettings& d = s.data;
  d.root = c.get_string("data.root", "");
  if (d.root.empty()) throw ConfigError("data.root: required with data.dataset \"imagenet\" (the ILSVRC-2012 directory)");
  d.augment = c.get_bool("data.augment", true);
  d.train_list = c.get_string("data.train_list", "");
  d.val_list = c.get_string("data.val_list", "");
  d.val_labels = c.get_string("data.val_labels", "");
  d.devkit_wnids = c.get_string("data.devkit_wnids", "");
  // Default: torchvision's 256 for 224, in proportion for other sizes.
  const int size = static_cast<int>(c.has("model.image_size") ? c.get_int("model.image_size") : 224);
  d.eval_resize = static_cast<int>(positive(c, "data.eval_resize", size * 8 / 7));
  d.min_scale = c.get_double("data.min_scale", d.min_scale);
  if (!(d.min_scale > 0 && d.min_scale <= 1))
    throw ConfigError("data.min_scale: must be in (0, 1] (got " + std::to_string(d.min_scale) + ")");
  d.reduced_decode = c.get_bool("data.reduced_decode", d.reduced_decode);
  d.region_decode = c.get_bool("data.region_decode", d.region_decode);
  d.max_bad_share = c.get_double("data.max_bad_share", d.max_bad_share);
  if (!(d.max_bad_share >= 0 && d.max_bad_share <= 1))
    throw ConfigError("data.max_bad_share: must be in [0, 1] (got " + std::to_string(d.max_bad_share) + ")");
  d.max_bad_share_eval = c.get_double("data.max_bad_share_eval", d.max_bad_share_eval);
  if (!(d.max_bad_share_eval >= 0 && d.max_bad_share_eval <= 1))
    throw ConfigError("data.max_bad_share_eval: must be in [0, 1] (got " + std::to_string(d.max_bad_share_eval) + ")");
}

void read_data(Config& c, TrainSettings& s) {
  DataSettings& d = s.data;
  d.dataset = c.get_string("data.dataset", d.dataset);
  const auto names = dataset_names();
  if (std::find(names.begin(), names.end(), d.dataset) == names.end())
    throw ConfigError("data.dataset: unknown dataset \"" + d.dataset + "\", expected one of " + join(names));
  d.train_limit = non_negative(c, "data.train_limit", 0);
  d.test_limit = non_negative(c, "data.test_limit", 0);
  d.workers = static_cast<int>(non_negative(c, "data.workers", 0));
  if (d.dataset == "fashion_mnist") {
    d.root = c.get_string("data.root", kFashionMnistRoot);
    d.augment = c.get_bool("data.augment", true);
    reject_if_present(c, "data.synthetic", d.dataset);
    reject_imagenet_keys(c, d.dataset);
  } else if (d.dataset == "imagenet") {
    read_imagenet(c, s);
    reject_if_present(c, "data.synthetic", d.dataset);
  } else {
    reject_imagenet_keys(c, d.dataset);
    reject_if_present(c, "data.root", d.dataset);
    reject_if_present(c, "data.augment", d.dataset);
    d.augment = false;
    d.synthetic_size = positive(c, "data.synthetic.size", d.synthetic_size);
    d.synthetic_test_size = positive(c, "data.synthetic.test_size", d.synthetic_test_size);
    d.synthetic_seed = static_cast<uint64_t>(non_negative(c, "data.synthetic.seed", 0));
  }
}

void read_model(Config& c, TrainSettings& s) {
  ModelOptions& m = s.model;
  m.name = c.get_string("model.name");
  const auto names = model_names();
  if (std::find(names.begin(), names.end(), m.name) == names.end())
    throw ConfigError("model.name: unknown model \"" + m.name + "\", expected one of " + join(names));
  // Fashion-MNIST fixes the input; other data follow the model's (torchvision) defaults.
  const bool fmnist = s.data.dataset == "fashion_mnist";
  m.num_classes = static_cast<int>(positive(c, "model.num_classes", fmnist ? 10 : m.num_classes));
  m.in_channels = static_cast<int>(positive(c, "model.in_channels", fmnist ? 1 : m.in_channels));
  m.image_size = static_cast<int>(positive(c, "model.image_size", fmnist ? 28 : m.image_size));
  m.aux_logits = c.get_bool("model.aux_logits", m.aux_logits);
  m.dropout = static_cast<float>(c.get_double("model.dropout", m.dropout));
  if (m.dropout >= 1.0f) throw ConfigError("model.dropout: must be < 1 (got " + std::to_string(m.dropout) + ")");
}

void read_distributed(Config& c, DistributedSettings& d) {
  d.backend = c.get_choice("distributed.backend", d.backend, {"auto", "mpi", "nccl", "none"});
  d.timeout_s = c.get_double("distributed.timeout_s", d.timeout_s);
  if (!(d.timeout_s > 0))
    throw ConfigError("distributed.timeout_s: must be > 0 seconds (got " + std::to_string(d.timeout_s) + ")");
  d.bucket_mb = c.get_double("distributed.bucket_mb", d.bucket_mb);
  if (!(d.bucket_mb > 0))
    throw ConfigError("distributed.bucket_mb: must be > 0 (got " + std::to_string(d.bucket_mb) + ")");
  d.lr_scaling = c.get_choice("distributed.lr_scaling", d.lr_scaling, {"none", "linear"});
  // Read only when present, so run directories whose config.json predates the key still resume.
  if (c.has("distributed.sync_batchnorm")) d.sync_batchnorm = c.get_bool("distributed.sync_batchnorm");
}

void read_cuda(Config& c, CudaSettings& cu) {
  cu.allow_tf32 = c.get_bool("cuda.allow_tf32", cu.allow_tf32);
  cu.deterministic = c.get_bool("cuda.deterministic", cu.deterministic);
}

}  // namespace

BackendOptions backend_options(const TrainSettings& s, int cuda_device) {
  BackendOptions o;
  o.threads = s.threads;
  o.cpu_reference = s.device == "cpu-ref";
  o.cuda_device = cuda_device;
  o.allow_tf32 = s.cuda.allow_tf32;
  o.deterministic = s.cuda.deterministic;
  return o;
}

nlohmann::json default_cuda_section() {
  Config c(nlohmann::json{{"cuda", nlohmann::json::object()}});
  CudaSettings unused;
  read_cuda(c, unused);
  return c.resolved().at("cuda");
}

std::string batch_description(int64_t per_rank_batch, int world_size) {
  const int64_t ranks = std::max(1, world_size);
  return std::to_string(per_rank_batch) + " per rank (global batch " + std::to_string(per_rank_batch * ranks) + " = " +
         std::to_string(ranks) + (ranks == 1 ? " rank" : " ranks") + " x " + std::to_string(per_rank_batch) + ")";
}

std::vector<std::string> dataset_names() { return {"fashion_mnist", "synthetic", "imagenet"}; }

TrainSettings read_train_settings(Config& c, bool cuda_ok) {
  TrainSettings s;
  s.device = c.get_choice("device", cuda_ok ? "cuda" : "cpu", {"cpu", "cpu-ref", "cuda"});
  s.threads = static_cast<int>(non_negative(c, "threads", 0));
  // Like `distributed`: read only when the section is present, so older run directories resume.
  if (c.has("cuda")) read_cuda(c, s.cuda);
  s.seed = static_cast<uint64_t>(non_negative(c, "seed", 0));
  s.out = c.get_string("out", "runs/" + file_stem(c.source()));
  if (s.out.empty()) throw ConfigError("out: must name a run directory");

  read_data(c, s);
  read_model(c, s);

  s.inq = read_inq_settings(c, s.seed);
  s.prune = read_prune_settings(c, s.inq.enabled);
  if (s.inq.enabled) {
    if (c.has("train.epochs"))
      throw ConfigError("train.epochs: not used with an inq section: the epochs come from inq.epochs_per_stage "
                        "(or inq.stage_epochs), inq.float_epochs and prune.epochs");
    s.epochs = s.inq.total_epochs() + (s.prune.enabled ? s.prune.epochs : 0);
  } else {
    s.epochs = positive(c, "train.epochs", s.epochs);
  }
  s.batch_size = positive(c, "train.batch_size", s.batch_size);
  s.eval_batch_size = positive(c, "train.eval_batch_size", s.batch_size);
  s.label_smoothing = c.get_double("train.label_smoothing", 0.0);
  if (!(s.label_smoothing >= 0 && s.label_smoothing < 1))
    throw ConfigError("train.label_smoothing: must be in [0, 1) (got " + std::to_string(s.label_smoothing) + ")");
  s.log_every = positive(c, "train.log_every", s.log_every);
  s.checkpoint_every = positive(c, "train.checkpoint_every", s.checkpoint_every);

  SgdOptions& o = s.optimizer;
  o.lr = c.get_double("optimizer.lr", o.lr);
  o.momentum = c.get_double("optimizer.momentum", o.momentum);
  o.weight_decay = c.get_double("optimizer.weight_decay", o.weight_decay);
  o.nesterov = c.get_bool("optimizer.nesterov", o.nesterov);
  if (!(o.momentum >= 0 && o.momentum < 1))
    throw ConfigError("optimizer.momentum: must be in [0, 1) (got " + std::to_string(o.momentum) + ")");
  if (!(o.weight_decay >= 0))
    throw ConfigError("optimizer.weight_decay: must be >= 0 (got " + std::to_string(o.weight_decay) + ")");
  if (o.nesterov && o.momentum == 0) throw ConfigError("optimizer.nesterov: needs optimizer.momentum > 0");

  s.lr_schedule = read_lr_schedule(c, "lr_schedule", o.lr);
  if (s.inq.has_float_milestones && s.lr_schedule.type != "multistep")
    throw ConfigError("inq.float_milestones: needs lr_schedule.type \"multistep\" (type is " + s.lr_schedule.type + ")");
  // Validates before any data is loaded; INQ with restart_lr runs the schedule over each phase.
  std::vector<int64_t> spans = {s.epochs};
  if (s.inq.enabled && s.inq.restart_lr) {
    spans = s.inq.stage_epochs;
    if (s.inq.float_epochs > 0) spans.push_back(s.inq.float_epochs);
    if (s.prune.enabled) spans.push_back(s.prune.epochs);
  }
  for (int64_t span : spans) {
    try {
      LrSchedule check(s.lr_schedule, span, 1);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string(e.what()) +
                        (s.inq.enabled && s.inq.restart_lr ? " (with inq.restart_lr the schedule spans each stage's " +
                                                                 std::to_string(span) + " epochs)"
                                                           : ""));
    }
  }

  s.init_weights = c.get_string("init.weights", "");
  if (s.inq.enabled && s.init_weights.empty())
    throw ConfigError("init.weights: required with an inq section (the pretrained FP32 weights to quantize)");
  // Read only when present, defaults not written back: run directories made before these keys
  // existed keep resolving to the same config (and so resume).
  s.init_partial = c.has("init.partial") && c.get_bool("init.partial");
  if (c.has("init.skip")) {
    const nlohmann::json& skip = c.get_json("init.skip");
    if (!skip.is_array()) throw ConfigError("init.skip: expected a list of glob patterns, got " + skip.dump());
    for (const auto& v : skip) {
      if (!v.is_string() || v.get<std::string>().empty())
        throw ConfigError("init.skip: expected a list of non-empty strings (glob patterns), got " + v.dump());
      s.init_skip.push_back(v.get<std::string>());
    }
  }
  if ((s.init_partial || !s.init_skip.empty()) && s.init_weights.empty())
    throw ConfigError(std::string(s.init_partial ? "init.partial" : "init.skip") + ": needs init.weights");
  // Like init.partial: read only when the section is present, so older run directories resume.
  if (c.has("distributed")) read_distributed(c, s.distributed);
  c.check_unused();
  s.resolved = c.resolved();
  return s;
}

std::vector<std::string> json_diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& prefix) {
  std::vector<std::string> out;
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      const std::string path = prefix.empty() ? k : prefix + "." + k;
      if (!a.contains(k) || !b.contains(k)) {
        out.push_back(path);
        continue;
      }
      auto sub = json_diff(a[k], b[k], path);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else if (a != b) {
    out.push_back(prefix.empty() ? "<root>" : prefix);
  }
  return out;
}

}  // namespace inq
