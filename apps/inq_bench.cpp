// inq_bench: times full training steps (forward, loss, backward, SGD) of a zoo model on synthetic
// data already resident on the device. Warm-up steps are excluded; the backend is synchronised
// after every step so each time is the step's own.
//   inq_bench --model M --batch B --device cpu|cuda [--image-size S] [--steps N] [--warmup W]
//             [--threads T] [--classes K] [--channels C] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "core/models/zoo.h"
#include "core/train/optimizer.h"

namespace {

const char* kUsage =
    "usage: inq_bench --model M --batch B --device cpu|cuda [--image-size S] [--steps N] [--warmup W]\n"
    "                 [--threads T] [--classes K] [--channels C] [--json]\n"
    "  defaults: resnet8 28x28x1 with 10 classes, other models 224x224x3 with 1000; 20 steps, 5 warm-up,\n"
    "  threads 0 (all cores, cpu only)\n";

struct Args {
  std::string model, device;
  int batch = 0, image_size = 0, steps = 20, warmup = 5, threads = 0, classes = 0, channels = 0;
  bool json = false;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "inq_bench: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

int parse_int(const std::string& flag, const std::string& v, int min) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < min || x > 1000000000L)
    usage_error(flag + " needs an integer >= " + std::to_string(min) + " (got '" + v + "')");
  return static_cast<int>(x);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--model") {
      a.model = value();
    } else if (arg == "--device") {
      a.device = value();
    } else if (arg == "--batch") {
      a.batch = parse_int(arg, value(), 1);
    } else if (arg == "--image-size") {
      a.image_size = parse_int(arg, value(), 1);
    } else if (arg == "--steps") {
      a.steps = parse_int(arg, value(), 1);
    } else if (arg == "--warmup") {
      a.warmup = parse_int(arg, value(), 0);
    } else if (arg == "--threads") {
      a.threads = parse_int(arg, value(), 0);
    } else if (arg == "--classes") {
      a.classes = parse_int(arg, value(), 1);
    } else if (arg == "--channels") {
      a.channels = parse_int(arg, value(), 1);
    } else if (arg == "--json") {
      a.json = true;
    } else {
      usage_error("unknown argument " + arg);
    }
  }
  if (a.model.empty() || a.batch == 0 || a.device.empty()) usage_error("--model, --batch and --device are required");
  const bool small = a.model == "resnet8";
  if (!a.image_size) a.image_size = small ? 28 : 224;
  if (!a.classes) a.classes = small ? 10 : 1000;
  if (!a.channels) a.channels = small ? 1 : 3;
  return a;
}

// Linear interpolation between order statistics (numpy's default percentile).
double percentile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

int run(const Args& a) {
  auto be = inq::make_backend(inq::parse_device(a.device), a.threads);
  inq::ModelOptions mo;
  mo.name = a.model;
  mo.num_classes = a.classes;
  mo.in_channels = a.channels;
  mo.image_size = a.image_size;
  auto net = inq::make_model(mo);
  net->materialize(*be, 0);
  inq::Sgd sgd(*net, inq::SgdOptions{0.01, 0.9, 5e-4, false});

  const int n = a.batch;
  const inq::Shape xshape = {n, a.channels, a.image_size, a.image_size};
  std::mt19937 gen(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> host_x(static_cast<size_t>(inq::shape_numel(xshape)));
  for (float& v : host_x) v = normal(gen);
  std::vector<int32_t> host_labels(static_cast<size_t>(n));
  for (int32_t& l : host_labels) l = static_cast<int32_t>(gen() % static_cast<unsigned>(a.classes));

  inq::Tensor x = inq::to_backend(*be, host_x.data(), xshape);
  auto labels = be->allocate(host_labels.size() * sizeof(int32_t));
  be->copy_from_host(labels->data(), host_labels.data(), host_labels.size() * sizeof(int32_t));
  const auto* lab = static_cast<const int32_t*>(labels->data());
  inq::Tensor probs = inq::empty(*be, {n, a.classes});
  inq::Tensor loss = inq::empty(*be, {n});
  inq::Tensor dlogits = inq::empty(*be, {n, a.classes});

  std::vector<double> times_ms;
  for (int i = 0; i < a.warmup + a.steps; ++i) {
    be->synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    inq::Context ctx{*be, true, static_cast<uint64_t>(i)};
    inq::Tensor logits = net->forward(ctx, x);
    be->softmax_xent_fwd(n, a.classes, logits.data(), lab, 0.0f, probs.data(), loss.data());
    be->softmax_xent_bwd(n, a.classes, probs.data(), lab, 0.0f, dlogits.data());
    net->backward(ctx, dlogits);
    sgd.step(0.01);
    be->synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= a.warmup) times_ms.push_back(ms);
  }
  std::vector<float> host_loss(static_cast<size_t>(n));
  be->copy_to_host(host_loss.data(), loss.data(), host_loss.size() * sizeof(float));
  double mean_loss = 0.0;
  for (float v : host_loss) mean_loss += v;
  mean_loss /= n;

  std::sort(times_ms.begin(), times_ms.end());
  const double median = percentile(times_ms, 0.5), p10 = percentile(times_ms, 0.1), p90 = percentile(times_ms, 0.9);
  const double ips = 1000.0 * n / median;
  const double peak_mib = static_cast<double>(be->peak_bytes()) / (1024.0 * 1024.0);
  if (a.json) {
    nlohmann::ordered_json j;
    j["tool"] = "inq";
    j["model"] = a.model;
    j["batch"] = n;
    j["image_size"] = a.image_size;
    j["channels"] = a.channels;
    j["classes"] = a.classes;
    j["device"] = a.device;
    j["backend"] = be->description();
    j["threads"] = a.threads;
    j["params"] = net->num_params();
    j["steps"] = a.steps;
    j["warmup"] = a.warmup;
    j["median_ms"] = median;
    j["p10_ms"] = p10;
    j["p90_ms"] = p90;
    j["images_per_second"] = ips;
    j["peak_bytes"] = be->peak_bytes();
    j["final_loss"] = mean_loss;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("inq_bench %s batch %d input %dx%dx%d, %s, %lld params\n", a.model.c_str(), n, a.channels,
                a.image_size, a.image_size, be->description().c_str(), static_cast<long long>(net->num_params()));
    std::printf("  %d steps after %d warm-up: median %.3f ms (p10 %.3f, p90 %.3f)  %.1f img/s  peak %.1f MiB  loss %.4f\n",
                a.steps, a.warmup, median, p10, p90, ips, peak_mib, mean_loss);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_bench: error: %s\n", e.what());
    return 2;
  }
}
