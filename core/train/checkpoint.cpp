#include "core/train/checkpoint.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include "core/inq/inq_state.h"
#include "core/io/safetensors.h"
#include "core/kill_point.h"

namespace inq {
namespace {

constexpr const char* kFormat = "inq-checkpoint-1";
constexpr const char* kMomentumPrefix = "optimizer.momentum.";
constexpr const char* kMaskPrefix = "inq_mask/";  // as InqState::save names its masks
// FNV-1a of the tensor data (hex), so damaged data that still parses is refused on resume.
constexpr const char* kChecksumKey = "inq.data_fnv1a64";

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// torchvision stores num_batches_tracked as a 0-d tensor; treat [] and [1] alike.
bool same_shape(const std::vector<int64_t>& a, const Shape& b) {
  if (a == b) return true;
  return shape_numel(a) == 1 && shape_numel(b) == 1 && (a.empty() || b.empty());
}

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

struct Expected {
  std::string name;
  Shape shape;
};

bool net_has(const std::vector<Expected>& v, const std::string& name) {
  return std::any_of(v.begin(), v.end(), [&](const Expected& e) { return e.name == name; });
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// Checks that `file` holds exactly the `expected` names and shapes (besides the `tolerated`
// names), reporting every missing, unexpected and wrong-shape name in one message.
void check_contents(const SafeTensorsFile& file, const std::vector<Expected>& expected, const std::string& what,
                    const std::set<std::string>& tolerated = {}) {
  std::vector<std::string> missing, wrong, unexpected;
  std::set<std::string> known;
  for (const auto& e : expected) {
    known.insert(e.name);
    if (!file.contains(e.name)) {
      missing.push_back(e.name);
      continue;
    }
    const auto& info = file.info(e.name);
    if (!same_shape(info.shape, e.shape))
      wrong.push_back(e.name + " (file " + shape_str(info.shape) + ", model " + shape_str(e.shape) + ")");
  }
  for (const auto& n : file.names())
    if (!known.count(n) && !tolerated.count(n)) unexpected.push_back(n);
  if (missing.empty() && wrong.empty() && unexpected.empty()) return;
  auto list = [](const char* title, const std::vector<std::string>& v) {
    if (v.empty()) return std::string();
    std::string s = std::string("\n  ") + title + " (" + std::to_string(v.size()) + "):";
    const size_t shown = std::min<size_t>(v.size(), 20);
    for (size_t i = 0; i < shown; ++i) s += " " + v[i];
    if (v.size() > shown) s += " ...";
    return s;
  };
  throw std::runtime_error(file.path() + ": does not match " + what + list("missing", missing) +
                           list("wrong shape", wrong) + list("unexpected", unexpected));
}

std::vector<Expected> net_tensors(const Net& net) {
  std::vector<Expected> v;
  for (const auto& e : net.entries()) v.push_back({e.name, e.param->shape});
  return v;
}

// Host copies of the flat buffers, sliced per entry below.
struct HostFlat {
  std::vector<float> params, buffers;
};

HostFlat download(Net& net) {
  Backend& be = net.backend();
  return {to_host(be, net.flat_params()), to_host(be, net.flat_buffers())};
}

const float* entry_data(const HostFlat& h, const Net::Entry& e) {
  return (e.is_buffer ? h.buffers.data() : h.params.data()) + e.offset;
}

void fill_from(const SafeTensorsFile& file, const std::string& name, float* dst, int64_t n) {
  const std::vector<float> v = file.read_f32(name);
  if (static_cast<int64_t>(v.size()) != n)
    throw std::runtime_error(file.path() + ": " + name + " has " + std::to_string(v.size()) + " values, expected " +
                             std::to_string(n));
  std::copy(v.begin(), v.end(), dst);
}

void upload(Net& net, HostFlat& h) {
  Backend& be = net.backend();
  be.copy_from_host(net.flat_params().data(), h.params.data(), h.params.size() * sizeof(float));
  be.copy_from_host(net.flat_buffers().data(), h.buffers.data(), h.buffers.size() * sizeof(float));
}

const std::string& meta(const SafeTensorsFile& file, const std::string& key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) throw std::runtime_error(file.path() + ": checkpoint metadata lacks " + key);
  return it->second;
}

int64_t meta_int(const SafeTensorsFile& file, const std::string& key) {
  const std::string& s = meta(file, key);
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw std::runtime_error(file.path() + ": checkpoint metadata " + key + " is not an integer: '" + s + "'");
}

double meta_double(const SafeTensorsFile& file, const std::string& key) {
  const std::string& s = meta(file, key);
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw std::runtime_error(file.path() + ": checkpoint metadata " + key + " is not a number: '" + s + "'");
}

}  // namespace

void save_checkpoint(const std::string& path, Net& net, Sgd& sgd, const TrainState& state,
                     const std::string& config_json, const InqState* inq, const CheckpointPart* part) {
  kill_point("checkpoint_write");
  for (const double v : {state.train_loss_sum, state.train_seconds})
    if (!std::isfinite(v))
      throw std::runtime_error(path + ": refusing to write a checkpoint with a non-finite running training sum");
  const HostFlat h = download(net);
  const std::vector<float> momentum = to_host(net.backend(), sgd.momentum());
  SafeTensorsWriter w;
  for (const auto& e : net.entries()) w.add_f32(e.name, e.param->shape, entry_data(h, e));
  for (const auto& e : net.entries())
    if (!e.is_buffer) w.add_f32(kMomentumPrefix + e.name, e.param->shape, momentum.data() + e.offset);
  w.set_metadata("inq.format", kFormat);
  w.set_metadata("inq.model", net.model_name());
  w.set_metadata("inq.epoch", std::to_string(state.epoch));
  w.set_metadata("inq.batch", std::to_string(state.batch));
  w.set_metadata("inq.global_step", std::to_string(state.global_step));
  w.set_metadata("inq.rng_state", state.rng_state);
  w.set_metadata("inq.train_loss_sum", exact(state.train_loss_sum));
  w.set_metadata("inq.train_top1", std::to_string(state.train_top1));
  w.set_metadata("inq.train_top5", std::to_string(state.train_top5));
  w.set_metadata("inq.train_samples", std::to_string(state.train_samples));
  w.set_metadata("inq.train_seconds", exact(state.train_seconds));
  w.set_metadata("inq.config", config_json);
  w.set_metadata("inq.world_size", std::to_string(state.world_size));
  if (inq) {
    inq->save(w);
    w.set_metadata("inq.stage", std::to_string(state.inq_stage));
    w.set_metadata("inq.stage_epoch", std::to_string(state.inq_stage_epoch));
  }
  if (part) part->save(w);
  w.set_metadata(kChecksumKey, hex64(w.data_checksum()));
  w.write(path);
  kill_point("checkpoint_written");
}

namespace {

// A checkpoint that does not parse (truncated, overwritten, not safetensors) is refused with the
// parser's reason; atomic writes make this a damaged disk or a foreign file, never a killed run.
std::unique_ptr<SafeTensorsFile> open_checkpoint(const std::string& path) {
  try {
    return std::make_unique<SafeTensorsFile>(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot resume from " + path + ": the checkpoint is damaged or not a checkpoint (" +
                             e.what() + ")");
  }
}

}  // namespace

TrainState load_checkpoint(const std::string& path, Net& net, Sgd& sgd, std::string* config_json, InqState* inq,
                           CheckpointPart* part) {
  const std::unique_ptr<SafeTensorsFile> opened = open_checkpoint(path);
  const SafeTensorsFile& file = *opened;
  auto fmt = file.metadata().find("inq.format");
  if (fmt == file.metadata().end() || fmt->second != kFormat)
    throw std::runtime_error(path + ": not an inq checkpoint (metadata inq.format should be " + kFormat + ")");
  // Checkpoints written before the checksum existed have none; every later one is checked.
  auto sum = file.metadata().find(kChecksumKey);
  if (sum != file.metadata().end() && sum->second != hex64(file.data_checksum()))
    throw std::runtime_error(path + ": checkpoint is damaged: its tensor data does not match the checksum it was "
                             "written with (" + kChecksumKey + " " + sum->second + ", data " +
                             hex64(file.data_checksum()) + "); restore a good copy or start the run afresh");
  std::vector<Expected> expected = net_tensors(net);
  for (const auto& e : net.entries())
    if (!e.is_buffer) expected.push_back({kMomentumPrefix + e.name, e.param->shape});
  if (inq)
    for (const auto& t : inq->tensors()) expected.push_back({kMaskPrefix + t.name, net.find(t.name)->param->shape});
  if (part)
    for (const auto& [name, shape] : part->checkpoint_tensors()) expected.push_back({name, shape});
  check_contents(file, expected, "the checkpoint layout of model " + net.model_name() + (inq ? " with INQ masks" : ""));

  HostFlat h = download(net);
  std::vector<float> momentum = to_host(net.backend(), sgd.momentum());
  for (const auto& e : net.entries()) {
    const int64_t n = shape_numel(e.param->shape);
    float* dst = (e.is_buffer ? h.buffers.data() : h.params.data()) + e.offset;
    fill_from(file, e.name, dst, n);
    if (!e.is_buffer) fill_from(file, kMomentumPrefix + e.name, momentum.data() + e.offset, n);
  }
  upload(net, h);
  net.backend().copy_from_host(sgd.momentum().data(), momentum.data(), momentum.size() * sizeof(float));

  TrainState s;
  s.epoch = meta_int(file, "inq.epoch");
  s.batch = meta_int(file, "inq.batch");
  s.global_step = meta_int(file, "inq.global_step");
  s.rng_state = meta(file, "inq.rng_state");
  s.train_loss_sum = meta_double(file, "inq.train_loss_sum");
  s.train_top1 = meta_int(file, "inq.train_top1");
  s.train_top5 = meta_int(file, "inq.train_top5");
  s.train_samples = meta_int(file, "inq.train_samples");
  s.train_seconds = meta_double(file, "inq.train_seconds");
  if (config_json) *config_json = meta(file, "inq.config");
  if (file.metadata().count("inq.world_size")) s.world_size = meta_int(file, "inq.world_size");
  if (inq) {
    inq->load(file);
    s.inq_stage = meta_int(file, "inq.stage");
    s.inq_stage_epoch = meta_int(file, "inq.stage_epoch");
  }
  if (part) part->load(file);
  return s;
}

void save_model(const std::string& path, Net& net, const InqState* inq,
                const std::map<std::string, std::string>& extra_metadata) {
  const HostFlat h = download(net);
  SafeTensorsWriter w;
  for (const auto& e : net.entries()) {
    const float* p = entry_data(h, e);
    if (e.is_buffer && ends_with(e.name, "num_batches_tracked")) {
      const int64_t n = shape_numel(e.param->shape);
      std::vector<int64_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
      w.add_i64(e.name, e.param->shape, v.data());
    } else {
      w.add_f32(e.name, e.param->shape, p);
    }
  }
  w.set_metadata("format", "pt");  // what torch-side safetensors loaders expect
  w.set_metadata("inq.model", net.model_name());
  w.set_metadata("inq.num_classes", std::to_string(net.num_classes()));
  w.set_metadata("inq.input_chw", shape_str(net.input_chw()));
  if (inq) w.set_metadata("inq", inq->metadata_json());
  for (const auto& [key, value] : extra_metadata) w.set_metadata(key, value);
  w.write(path);
}

LoadReport load_weights(const std::string& path, Net& net, const LoadWeightsOptions& options) {
  SafeTensorsFile file(path);
  const std::string model = "model " + net.model_name();
  for (const auto& p : options.skip) {
    const auto& es = net.entries();
    if (std::none_of(es.begin(), es.end(), [&](const Net::Entry& e) { return glob_match(p, e.name); }))
      throw std::runtime_error(path + ": skip pattern \"" + p + "\" matches no tensor of " + model);
  }
  auto skipped_by_pattern = [&](const std::string& name) {
    return std::any_of(options.skip.begin(), options.skip.end(), [&](const std::string& p) { return glob_match(p, name); });
  };
  LoadReport report;
  std::vector<Expected> to_load;  // name and shape of every tensor taken from the file
  std::vector<const Net::Entry*> load;
  std::set<std::string> skipped;  // by pattern: the file may hold them (say, the old head) or not
  for (const auto& e : net.entries()) {
    if (skipped_by_pattern(e.name)) {
      report.skipped.push_back(e.name + " (init.skip)");
      skipped.insert(e.name);
      continue;
    }
    if (options.partial) {
      if (!file.contains(e.name)) {
        report.skipped.push_back(e.name + " (not in file)");
        continue;
      }
      const auto& shape = file.info(e.name).shape;
      if (!same_shape(shape, e.param->shape)) {
        report.skipped.push_back(e.name + " (shape: file " + shape_str(shape) + ", model " + shape_str(e.param->shape) +
                                 ")");
        continue;
      }
    }
    to_load.push_back({e.name, e.param->shape});
    load.push_back(&e);
  }
  if (!options.partial) check_contents(file, to_load, model, skipped);  // strict apart from `skipped`
  if (load.empty())
    throw std::runtime_error(path + ": " + (options.partial ? "partial " : "") + "load of " + model +
                             " found no tensor with a matching name and shape");
  for (const auto& n : file.names())
    if (!net_has(to_load, n)) report.ignored.push_back(n);
  HostFlat h = download(net);
  for (const Net::Entry* e : load) {
    float* dst = (e->is_buffer ? h.buffers.data() : h.params.data()) + e->offset;
    fill_from(file, e->name, dst, shape_numel(e->param->shape));
  }
  upload(net, h);
  report.loaded = static_cast<int64_t>(load.size());
  return report;
}

std::string describe_load(const std::string& path, const LoadReport& r) {
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::string s = "init: loaded " + std::to_string(r.loaded) + " tensors from " + path;
  if (!r.skipped.empty())
    s += "; kept " + std::to_string(r.skipped.size()) + " as initialised: " + list(r.skipped);
  if (!r.ignored.empty()) s += "; ignored " + std::to_string(r.ignored.size()) + " of the file: " + list(r.ignored);
  return s;
}

}  // namespace inq
