// inq_eval: evaluation of the weights named by init.weights, in eval mode (BatchNorm running
// statistics, no dropout), with the model, data and device of a config (configs/README.md).
//   inq_eval CONFIG [--set key=value]... [--json FILE]
//       top-1/top-5 and mean cross-entropy on the config's test split
//   inq_eval CONFIG [--set key=value]... --input X.safetensors [--dump-logits Y.safetensors] [--json FILE]
//       runs the model on X's NCHW tensor "input": writes the tensor "logits" [N, classes] to Y and,
//       when X also holds integer "labels" [N], evaluates on those images instead of the split
//   --integer M.onnx: instead of the float model, the CPU integer reference of init.weights with the
//       activation parameters of M.onnx (its inq_export --format onnx --int8 export): int8
//       activations, weight multiplies as shifts, int32 sums, requantization as M.onnx specifies
// Exit codes: 0 done, 1 runtime failure, 2 bad input (arguments, config, files).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/cli.h"
#include "core/backend.h"
#include "core/config.h"
#ifdef INQ_WITH_ONNX
#include "core/export/int8_eval.h"
#else
namespace inq {
struct Int8Reference {};  // this build has no ONNX export, hence no --integer
}  // namespace inq
#endif
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/train/checkpoint.h"
#include "core/train/data_factory.h"
#include "core/train/evaluate.h"
#include "core/train/run_setup.h"
#include "core/train/train_config.h"
#include "data/loader.h"

namespace {

using namespace inq;

const char* kUsage =
    "usage: inq_eval CONFIG [--set key=value]... [--json FILE]\n"
    "       inq_eval CONFIG [--set key=value]... --input X.safetensors [--dump-logits Y.safetensors] [--json FILE]\n"
    "  CONFIG              JSON config (configs/README.md): model, data, device; init.weights names the\n"
    "                      weights to evaluate (e.g. --set init.weights=runs/x/model.safetensors)\n"
    "  --set key=value     override a config key by dotted path\n"
    "  --json FILE         also write the result as JSON\n"
    "  --input X           evaluate the NCHW tensor \"input\" of X instead of the test split (its integer\n"
    "                      tensor \"labels\", when present, gives top-1/top-5 and loss)\n"
    "  --dump-logits Y     with --input: write the eval-mode logits to Y as the tensor \"logits\"\n"
    "  --integer M.onnx    evaluate the integer reference with the int8 parameters of M.onnx\n"
    "                      (inq_export --format onnx --int8) instead of the float model\n";

constexpr size_t kShownSkipped = 10;  // skipped paths named in the report

struct Args {
  std::string config, json, input, dump, integer;
  std::vector<std::string> sets;
};

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Args parse_args(int argc, char** argv) {
  const cli::Parser parser("inq_eval", kUsage);
  Args a;
  cli::ConfigArgs c = parser.parse(argc, argv, {{"--json", &a.json}, {"--input", &a.input}, {"--dump-logits", &a.dump},
                                                {"--integer", &a.integer}});
  a.config = std::move(c.config);
  a.sets = std::move(c.sets);
  if (a.config.empty()) parser.fail("no config given");
  if (!a.dump.empty() && a.input.empty()) parser.fail("--dump-logits needs --input");
  return a;
}

// The images and labels of an --input file, served to the loader like any dataset.
class TensorDataset final : public Dataset {
 public:
  TensorDataset(std::vector<float> images, Shape chw, std::vector<int32_t> labels, int classes, std::string name)
      : images_(std::move(images)), chw_(std::move(chw)), labels_(std::move(labels)), classes_(classes),
        name_(std::move(name)) {}
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int num_classes() const override { return classes_; }
  Shape sample_shape() const override { return chw_; }
  int32_t get(int64_t i, float* out, Rng&) const override {
    const int64_t n = shape_numel(chw_);
    std::copy(images_.begin() + i * n, images_.begin() + (i + 1) * n, out);
    return labels_[static_cast<size_t>(i)];
  }
  std::string describe() const override { return name_ + " (" + std::to_string(size()) + " images)"; }

 private:
  std::vector<float> images_;
  Shape chw_;
  std::vector<int32_t> labels_;
  int classes_;
  std::string name_;
};

struct Input {
  std::vector<float> images;
  Shape shape;  // [N, C, H, W]
  std::vector<int32_t> labels;  // empty: none in the file
};

Input read_input(const std::string& path, const Net& net) {
  SafeTensorsFile f(path);
  if (!f.contains("input")) throw BadInput(path + ": no tensor named 'input' (expected NCHW images)");
  Input in;
  in.shape = f.info("input").shape;
  const Shape& chw = net.input_chw();
  if (in.shape.size() != 4 || in.shape[0] < 1 || Shape(in.shape.begin() + 1, in.shape.end()) != chw)
    throw BadInput(path + ": 'input' has shape " + shape_str(in.shape) + " but " + net.model_name() +
                   " as configured takes [N, " + std::to_string(chw[0]) + ", " + std::to_string(chw[1]) + ", " +
                   std::to_string(chw[2]) + "] (model.in_channels, model.image_size)");
  in.images = f.read_f32("input");
  if (f.contains("labels")) {
    const auto& info = f.info("labels");
    if (info.shape != Shape{in.shape[0]})
      throw BadInput(path + ": 'labels' has shape " + shape_str(info.shape) + ", expected [" +
                     std::to_string(in.shape[0]) + "]");
    for (int64_t l : f.read_i64("labels")) {
      if (l < 0 || l >= net.num_classes())
        throw BadInput(path + ": label " + std::to_string(l) + " is outside [0, " +
                       std::to_string(net.num_classes()) + ")");
      in.labels.push_back(static_cast<int32_t>(l));
    }
  }
  return in;
}

void dump_logits(const std::string& path, Net& net, const Input& in, int64_t batch, const std::string& weights,
                 const Int8Reference* integer) {
  const int64_t n = in.shape[0], image = shape_numel(net.input_chw());
  std::vector<float> logits;
  logits.reserve(static_cast<size_t>(n * net.num_classes()));
#ifdef INQ_WITH_ONNX
  if (integer) logits = int8_logits(integer->model, in.images.data(), n, batch);
#endif
  for (int64_t i = 0; i < n && !integer; i += batch) {
    const int64_t rows = std::min(batch, n - i);
    const std::vector<float> part = eval_logits(net, in.images.data() + i * image, rows);
    logits.insert(logits.end(), part.begin(), part.end());
  }
  SafeTensorsWriter w;
  w.add_f32("logits", {n, net.num_classes()}, logits.data());
  w.set_metadata("inq.model", net.model_name());
  w.set_metadata("inq.weights", weights);
  w.write(path);
}

// --integer: the CPU integer reference of `weights` with the int8 parameters of `onnx_path`.
std::unique_ptr<Int8Reference> integer_reference(const std::string& weights, const std::string& onnx_path) {
  if (!std::filesystem::is_regular_file(onnx_path)) throw BadInput("--integer " + onnx_path + ": no such file");
#ifdef INQ_WITH_ONNX
  return load_int8_reference(weights, onnx_path);
#else
  (void)weights;
  throw BadInput("--integer: this build has no ONNX export (libonnx-dev, libprotobuf-dev)");
#endif
}

int run(const Args& args) {
  TrainSettings s;
  std::unique_ptr<Backend> be;
  std::unique_ptr<Net> net;
  std::shared_ptr<const Dataset> data;
  Input input;
  std::unique_ptr<Int8Reference> integer;
  try {
    Config config = Config::load(args.config);
    for (const auto& set : args.sets) config.apply_override(set);
    s = read_settings(config);
    if (s.init_weights.empty())
      throw ConfigError("init.weights: names the weights to evaluate (e.g. --set init.weights=runs/x/model.safetensors)");
    // Before the backend starts (a CUDA driver can take a while): the file to evaluate must exist.
    if (!std::filesystem::is_regular_file(s.init_weights))
      throw ConfigError("init.weights: " + s.init_weights + ": no such file");
    be = make_settings_backend(s);
    net = make_materialized_model(s.model, *be, s.seed);
    const LoadReport loaded = load_init_weights(s, *net);
    if (!loaded.skipped.empty() || !loaded.ignored.empty())
      std::fprintf(stderr, "inq_eval: warning: %s\n", describe_load(s.init_weights, loaded).c_str());
    if (!args.integer.empty()) integer = integer_reference(s.init_weights, args.integer);
    if (args.input.empty()) {
      data = make_data_splits(s.data, s.model).test;
    } else {
      input = read_input(args.input, *net);
      if (input.labels.empty() && args.dump.empty())
        throw BadInput(args.input + ": no 'labels' to evaluate against and no --dump-logits: nothing to do");
      if (input.labels.empty() && !args.json.empty())
        throw BadInput(args.input + ": --json needs 'labels' in the input file (there is nothing to score)");
      if (!input.labels.empty())
        data = std::make_shared<TensorDataset>(input.images, Shape(input.shape.begin() + 1, input.shape.end()),
                                               input.labels, net->num_classes(), args.input);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_eval: error: %s\n", e.what());
    return 2;
  }

  try {
    if (!args.dump.empty()) {
      dump_logits(args.dump, *net, input, s.eval_batch_size, s.init_weights, integer.get());
      std::printf("logits [%lld, %d] of %s written to %s\n", static_cast<long long>(input.shape[0]),
                  net->num_classes(), args.input.c_str(), args.dump.c_str());
    }
    if (!data) return 0;
    Loader loader(data, evaluation_loader_options(s));
    const auto t0 = std::chrono::steady_clock::now();
#ifdef INQ_WITH_ONNX
    const Accumulator acc = integer ? evaluate_int8(integer->model, loader, net->num_classes())
                                    : evaluate(*net, loader, allocate_eval_buffers(*be, *net, s.eval_batch_size));
#else
    const Accumulator acc = evaluate(*net, loader, allocate_eval_buffers(*be, *net, s.eval_batch_size));
#endif
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s  %s on %s: top1 %.2f%%  top5 %.2f%%  loss %.4f  (%lld evaluated, %lld skipped, %.1f s, %s)\n",
                net->model_name().c_str(), s.init_weights.c_str(), data->describe().c_str(), 100 * acc.top1_rate(),
                100 * acc.top5_rate(), acc.mean_loss(), static_cast<long long>(acc.samples),
                static_cast<long long>(acc.skipped), seconds, integer ? "CPU integer reference" : be->description().c_str());
    // Unreadable images are left out of the accuracy, never replaced: name the first few.
    const std::vector<std::string> skipped_paths = data->bad_paths(kShownSkipped);
    if (acc.skipped > 0) {
      std::string list;
      for (const auto& p : skipped_paths) list += "\n  " + p;
      if (acc.skipped > static_cast<int64_t>(skipped_paths.size())) list += "\n  ...";
      std::printf("skipped %lld unreadable images:%s\n", static_cast<long long>(acc.skipped), list.c_str());
    }
    if (!args.json.empty()) {
      const nlohmann::json j = {{"model", net->model_name()}, {"weights", s.init_weights},
                                {"data", data->describe()},   {"samples", acc.samples},
                                {"evaluated", acc.samples},   {"skipped", acc.skipped},
                                {"skipped_paths", skipped_paths},
                                {"top1", acc.top1_rate()},    {"top5", acc.top5_rate()},
                                {"loss", acc.mean_loss()},    {"top1_correct", acc.top1},
                                {"top5_correct", acc.top5},   {"loss_sum", acc.loss_sum},
                                {"seconds", seconds},         {"integer", args.integer}};
      write_file_atomic(args.json, j.dump(2) + "\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_eval: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(parse_args(argc, argv)); }
