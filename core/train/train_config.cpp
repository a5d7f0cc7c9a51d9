#include "core/train/train_config.h"

#include <algorithm>
#include <set>

#include "core/train/config_checks.h"
#include "core/train/config_version.h"
#include "core/train/data_factory.h"

namespace inq {
namespace {

std::string file_stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  const auto dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return base.empty() || base.front() == '<' ? "run" : base;
}

void read_model(Config& c, TrainSettings& s) {
  ModelOptions& m = s.model;
  m.name = c.get_string("model.name");
  if (!find_model(m.name)) throw ConfigError("model.name: " + unknown_model_message(m.name));
  // A dataset may fix the input (Fashion-MNIST); others follow the model's (torchvision) defaults.
  const InputDefaults& in = find_dataset(s.data.dataset)->input;
  m.num_classes = static_cast<int>(positive(c, "model.num_classes", in.num_classes ? in.num_classes : m.num_classes));
  m.in_channels = static_cast<int>(positive(c, "model.in_channels", in.in_channels ? in.in_channels : m.in_channels));
  m.image_size = static_cast<int>(positive(c, "model.image_size", in.image_size ? in.image_size : m.image_size));
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
  d.sync_batchnorm = c.get_bool("distributed.sync_batchnorm", d.sync_batchnorm);
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

nlohmann::json resolve_config(const nlohmann::json& config) {
  Config c(config);
  return read_train_settings(c, false).resolved;
}

std::string batch_description(int64_t per_rank_batch, int world_size) {
  const int64_t ranks = std::max(1, world_size);
  return std::to_string(per_rank_batch) + " per rank (global batch " + std::to_string(per_rank_batch * ranks) + " = " +
         std::to_string(ranks) + (ranks == 1 ? " rank" : " ranks") + " x " + std::to_string(per_rank_batch) + ")";
}

TrainSettings read_train_settings(Config& c, bool cuda_ok) {
  upgrade_config(c);
  TrainSettings s;
  s.device = c.get_choice("device", cuda_ok ? "cuda" : "cpu", {"cpu", "cpu-ref", "cuda"});
  s.threads = static_cast<int>(non_negative(c, "threads", 0));
  read_cuda(c, s.cuda);
  s.seed = static_cast<uint64_t>(non_negative(c, "seed", 0));
  s.out = c.get_string("out", "runs/" + file_stem(c.source()));
  if (s.out.empty()) throw ConfigError("out: must name a run directory");

  read_data_settings(c, s.data);
  read_model(c, s);

  check_quant_inq_keys(c);
  s.inq = read_inq_settings(c, s.seed);
  s.quant = read_quant_settings(c);
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
  s.init_partial = c.get_bool("init.partial", false);
  if (!c.has("init.skip")) c.apply_override("init.skip=[]");  // the default, written back
  const nlohmann::json& skip = c.get_json("init.skip");
  if (!skip.is_array()) throw ConfigError("init.skip: expected a list of glob patterns, got " + skip.dump());
  for (const auto& v : skip) {
    if (!v.is_string() || v.get<std::string>().empty())
      throw ConfigError("init.skip: expected a list of non-empty strings (glob patterns), got " + v.dump());
    s.init_skip.push_back(v.get<std::string>());
  }
  if ((s.init_partial || !s.init_skip.empty()) && s.init_weights.empty())
    throw ConfigError(std::string(s.init_partial ? "init.partial" : "init.skip") + ": needs init.weights");
  read_distributed(c, s.distributed);
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
