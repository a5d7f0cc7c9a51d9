// inq_bench: times, on one backend, one of
//   step          full training steps (forward, loss, backward, SGD) of a zoo model on synthetic
//                 data already resident on the device;
//   sgd           the fused masked SGD pass over the model's flat buffers (half the weights
//                 frozen), with its achieved bandwidth next to a plain device copy of the same size;
//   inq-boundary  every INQ stage boundary (partition selection + projection + freeze) of a
//                 5-bit schedule {.5,.75,.875,1} over the model's quantized weights.
// Warm-up runs are excluded; the backend is synchronised around every timed run.
//   decode        the ImageNet pipeline on the JPEG tree --data DIR (DIR/train/<wnid>/*): decode +
//                 transform images/s on one thread from memory, with and without reduced-size and
//                 region decoding, the pixel difference each makes, and the Loader's scaling over threads.
// CUDA runs strict fp32 with deterministic cuDNN engines unless --tf32 / --nondeterministic (the
// config keys cuda.allow_tf32 / cuda.deterministic); both flags need --device cuda.
//   inq_bench --model M --batch B --device cpu|cpu-ref|cuda [--what step|sgd|inq-boundary] [--image-size S]
//             [--steps N] [--warmup W] [--threads T] [--classes K] [--channels C] [--tf32]
//             [--nondeterministic] [--json]
//   inq_bench --what decode --data DIR [--image-size S] [--batch B] [--threads T] [--json]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/inq/inq_state.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/models/zoo.h"
#include "core/train/run_setup.h"
#include "core/train/optimizer.h"
#include "core/train/train_step.h"
#include "data/imagenet.h"
#include "data/loader.h"

namespace {

const char* kUsage =
    "usage: inq_bench --model M --batch B --device cpu|cpu-ref|cuda [--what step|sgd|inq-boundary]\n"
    "                 [--image-size S] [--steps N] [--warmup W]\n"
    "                 [--threads T] [--classes K] [--channels C] [--tf32] [--nondeterministic] [--json]\n"
    "       inq_bench --what decode --data DIR [--image-size S] [--batch B] [--threads T] [--json]\n"
    "  defaults: resnet8 28x28x1 with 10 classes, other models 224x224x3 with 1000; 20 steps, 5 warm-up,\n"
    "  threads 0 (all cores, cpu only)\n"
    "  --tf32              cuda: TF32 tensor cores for fp32 convolutions and GEMMs (default strict fp32)\n"
    "  --nondeterministic  cuda: allow non-deterministic cuDNN engines (default deterministic only)\n";

struct Args {
  std::string model, device, what = "step", data;
  int batch = 0, image_size = 0, steps = 20, warmup = 5, threads = 0, classes = 0, channels = 0;
  bool json = false;
  bool tf32 = false, nondeterministic = false;  // the CUDA backend's precision options
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
    } else if (arg == "--what") {
      a.what = value();
      if (a.what != "step" && a.what != "sgd" && a.what != "inq-boundary" && a.what != "decode")
        usage_error("--what must be step, sgd, inq-boundary or decode (got '" + a.what + "')");
    } else if (arg == "--data") {
      a.data = value();
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--tf32") {
      a.tf32 = true;
    } else if (arg == "--nondeterministic") {
      a.nondeterministic = true;
    } else {
      usage_error("unknown argument " + arg);
    }
  }
  const char* cuda_flag = a.tf32 ? "--tf32" : a.nondeterministic ? "--nondeterministic" : nullptr;
  if (a.what == "decode") {
    if (a.data.empty()) usage_error("--what decode needs --data DIR");
    if (cuda_flag) usage_error(std::string(cuda_flag) + " does not apply to --what decode");
    if (!a.image_size) a.image_size = 224;
    if (!a.batch) a.batch = 64;
    return a;
  }
  if (a.model.empty() || a.batch == 0 || a.device.empty()) usage_error("--model, --batch and --device are required");
  if (!inq::find_model(a.model)) usage_error("--model: " + inq::unknown_model_message(a.model));
  // The CPU computes strict fp32 deterministically: a precision flag there would measure nothing it names.
  if (cuda_flag && a.device != "cuda") usage_error(std::string(cuda_flag) + " needs --device cuda");
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

// Median, p10 and p90 of `runs` timed calls of fn after `warmup` untimed ones, in ms.
template <typename Fn>
std::vector<double> time_runs(inq::Backend& be, int warmup, int runs, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + runs; ++i) {
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn(i);
    be.synchronize();
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return {percentile(ms, 0.5), percentile(ms, 0.1), percentile(ms, 0.9)};
}

void print_line(const Args& a, const nlohmann::ordered_json& j, const std::string& text) {
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The precision the timed work ran at, as every JSON line records it.
void add_precision(const Args& a, nlohmann::ordered_json& j) {
  j["precision"] = a.tf32 ? "tf32" : "fp32";
  j["deterministic"] = !a.nondeterministic;
}

// Masked SGD over the whole flat parameter buffer: reads w, g, m, mask; writes w, m.
int run_sgd(const Args& a, inq::Backend& be, inq::Net& net) {
  const int64_t n = net.flat_params().numel();
  inq::Tensor momentum = inq::zeros(be, {n});
  be.fill(net.flat_grads().data(), n, 1e-3f);
  std::vector<uint8_t> host_mask(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) host_mask[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 2654435761u) >> 31 & 1u);
  auto mask = be.allocate(static_cast<size_t>(n));
  be.copy_from_host(mask->data(), host_mask.data(), host_mask.size());
  const auto* m = static_cast<const uint8_t*>(mask->data());
  const auto sgd = time_runs(be, a.warmup, a.steps, [&](int) {
    be.sgd_step(n, net.flat_params().data(), net.flat_grads().data(), momentum.data(), m, 0.01f, 0.9f, 5e-4f, false);
  });
  inq::Tensor dst = inq::empty(be, {n});
  const auto copy = time_runs(be, a.warmup, a.steps, [&](int) {
    be.copy(dst.data(), net.flat_params().data(), static_cast<size_t>(n) * sizeof(float));
  });
  // Bytes a pass must move: w, g, m read and mask read; w, m written (frozen lanes may skip the writes).
  const double sgd_gbs = double(n) * 21.0 / (sgd[0] * 1e6);
  const double copy_gbs = double(n) * 8.0 / (copy[0] * 1e6);
  nlohmann::ordered_json j{{"tool", "inq"}, {"what", "sgd"}, {"model", a.model}, {"backend", be.description()},
                           {"params", n}, {"median_ms", sgd[0]}, {"p10_ms", sgd[1]}, {"p90_ms", sgd[2]},
                           {"sgd_gb_per_s", sgd_gbs}, {"copy_median_ms", copy[0]}, {"copy_gb_per_s", copy_gbs}};
  add_precision(a, j);
  print_line(a, j,
             "inq_bench masked SGD over " + std::to_string(n) + " floats (" + a.model + ", " + be.description() +
                 "): median " + fmt("%.3f", sgd[0]) + " ms (p10 " + fmt("%.3f", sgd[1]) + ", p90 " +
                 fmt("%.3f", sgd[2]) + "), " + fmt("%.1f", sgd_gbs) + " GB/s; device copy " + fmt("%.3f", copy[0]) +
                 " ms, " + fmt("%.1f", copy_gbs) + " GB/s; ratio " + fmt("%.2f", sgd_gbs / copy_gbs));
  return 0;
}

// Every stage boundary of a 5-bit schedule, each timed once on a fresh copy of the weights.
int run_inq_boundary(const Args& a, inq::Backend& be, inq::Net& net) {
  inq::InqOptions o;
  o.bits = 5;
  o.portions = {0.5, 0.75, 0.875, 1.0};
  inq::InqState state(net, o);
  std::vector<double> ms;
  for (size_t k = 0; k < o.portions.size(); ++k) {
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    state.begin_stage(static_cast<int>(k), nullptr);
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  nlohmann::ordered_json j{{"tool", "inq"}, {"what", "inq-boundary"}, {"model", a.model},
                           {"backend", be.description()}, {"quantized_weights", state.total_quantized()},
                           {"tensors", state.tensors().size()}, {"stage_ms", ms}};
  add_precision(a, j);
  std::string text = "inq_bench INQ stage boundaries, " + a.model + " (" + std::to_string(state.tensors().size()) +
                     " tensors, " + std::to_string(state.total_quantized()) + " weights), " + be.description() + ":";
  for (size_t k = 0; k < ms.size(); ++k) text += " " + fmt("%.1f", ms[k]) + " ms";
  print_line(a, j, text);
  return 0;
}

// --what decode: single-thread decode + transform from memory in three modes on the same random
// crops: "full" (OpenCV whole-image decode at full size), "reduced" (the same, DCT-scaled when the
// crop allows: the earlier default) and "region" (libjpeg directly, the same scaling, training only
// the crop box: the default); the pixel difference each makes against the one before it; and the Loader
// reading the files with 1..T workers in each mode. Each figure is the median of 3 timed passes after
// an untimed one. Besides wall-clock rates, images per CPU-second (thread CPU time for the
// single-thread loop, process CPU time for the Loader), which other work on the machine distorts less.
struct DecodeMode {
  const char* name;
  bool reduced, region;
};
constexpr DecodeMode kDecodeModes[] = {{"full", false, false}, {"reduced", true, false}, {"region", true, true}};

int run_decode(const Args& a) {
  auto cpu_now = [](clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  inq::ImageIndexOptions io;
  io.root = a.data;
  const inq::ImageIndex index = inq::index_images(io);
  std::vector<std::vector<uint8_t>> files;
  double bytes = 0;
  for (const auto& e : index.entries) {
    std::FILE* f = std::fopen(e.path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + e.path);
    std::vector<uint8_t> b;
    uint8_t buf[65536];
    for (size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) b.insert(b.end(), buf, buf + got);
    std::fclose(f);
    bytes += static_cast<double>(b.size());
    files.push_back(std::move(b));
  }
  const auto n = static_cast<double>(files.size());
  const int passes = 3, crop = a.image_size;
  const size_t numel = size_t(3) * crop * crop;
  if (!a.json)
    std::printf("inq_bench decode: %zu files in %s (%.1f KB mean), output %dx%d\n", files.size(), a.data.c_str(),
                bytes / n / 1024.0, crop, crop);
  for (const bool train : {true, false}) {
    const int modes = 3;
    std::vector<float> outputs[3];
    double rate[3] = {0, 0, 0}, cpu_rate[3] = {0, 0, 0}, reduced_share = 0;
    for (int m = 0; m < modes; ++m) {
      inq::ImageTransform t;
      t.train = train;
      t.crop = crop;
      t.resize = crop * 8 / 7;
      t.reduced_decode = kDecodeModes[m].reduced;
      t.region_decode = kDecodeModes[m].region;
      std::vector<float>& keep = outputs[m];
      keep.resize(files.size() * numel);
      std::vector<double> rates, cpu_rates;
      for (int p = 0; p <= passes; ++p) {
        int64_t shrunk = 0;
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
        for (size_t k = 0; k < files.size(); ++k) {
          inq::Rng rng(k * 7919 + static_cast<uint64_t>(p));  // the same crops in every mode
          shrunk += inq::decode_transform(files[k].data(), files[k].size(), t, rng, keep.data() + k * numel) > 1;
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cs = cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (p > 0) rates.push_back(n / s);
        if (p > 0) cpu_rates.push_back(n / cs);
        if (m == 1) reduced_share = static_cast<double>(shrunk) / n;
      }
      std::sort(rates.begin(), rates.end());
      std::sort(cpu_rates.begin(), cpu_rates.end());
      rate[m] = rates[rates.size() / 2];
      cpu_rate[m] = cpu_rates[cpu_rates.size() / 2];
    }
    // Outputs of the last pass, same crops: the difference in 8-bit grey levels (std undone) of
    // mode m against mode m - 1.
    auto compare = [&](int m, double* mad, double* psnr, double* max_abs) {
      double abs_sum = 0, sq_sum = 0;
      *max_abs = 0;
      for (size_t i = 0; i < outputs[m].size(); ++i) {
        const double d =
            (outputs[m - 1][i] - outputs[m][i]) * inq::kImageNetStd[(i / (size_t(crop) * crop)) % 3] * 255.0;
        abs_sum += std::abs(d);
        sq_sum += d * d;
        *max_abs = std::max(*max_abs, std::abs(d));
      }
      *mad = abs_sum / static_cast<double>(outputs[m].size());
      const double mse = sq_sum / static_cast<double>(outputs[m].size());
      *psnr = mse > 0 ? 10.0 * std::log10(255.0 * 255.0 / mse) : 0.0;
    };
    double mad = 0, psnr = 0, max_abs = 0, region_max_abs = 0, unused = 0;
    compare(1, &mad, &psnr, &max_abs);
    compare(2, &unused, &unused, &region_max_abs);
    nlohmann::ordered_json j{{"tool", "inq"},         {"what", "decode"},         {"transform", train ? "train" : "eval"},
                             {"threads", 1},          {"files", files.size()},    {"full_images_per_second", rate[0]},
                             {"reduced_images_per_second", rate[1]}, {"full_images_per_cpu_second", cpu_rate[0]},
                             {"reduced_images_per_cpu_second", cpu_rate[1]}, {"reduced_share", reduced_share},
                             {"mean_abs_diff_grey", mad}, {"psnr_db", psnr}};
    std::string text = std::string("  ") + (train ? "train (RandomResizedCrop+flip)" : "eval (resize+centre crop)") +
                       ", 1 thread: full decode " + fmt("%.1f", rate[0]) + " img/s, reduced " + fmt("%.1f", rate[1]) +
                       " img/s; per CPU-second " + fmt("%.1f", cpu_rate[0]) + " and " + fmt("%.1f", cpu_rate[1]) +
                       " (x" + fmt("%.2f", cpu_rate[1] / cpu_rate[0]) + ", reduced on " +
                       fmt("%.0f", 100 * reduced_share) + "% of images); output difference " + fmt("%.2f", mad) +
                       " grey levels mean, PSNR " + fmt("%.1f", psnr) + " dB";
    j["region_images_per_second"] = rate[2];
    j["region_images_per_cpu_second"] = cpu_rate[2];
    j["region_vs_reduced_max_abs_diff_grey"] = region_max_abs;
    text += std::string("\n  ") + (train ? "train" : "eval") + ", region decode (libjpeg direct" +
            (train ? ", crop box only" : "") + ", scaled as reduced): " + fmt("%.1f", rate[2]) + " img/s, " +
            fmt("%.1f", cpu_rate[2]) + " per CPU-second (x" + fmt("%.2f", cpu_rate[2] / cpu_rate[1]) +
            " of reduced); largest output difference to reduced " + fmt("%.3g", region_max_abs) + " grey levels";
    print_line(a, j, text);
  }
  const int max_workers = a.threads ? a.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (const DecodeMode& mode : kDecodeModes)
    for (int w = 1; w <= max_workers; ++w) {
      inq::ImageNetOptions o;
      o.index.root = a.data;
      o.transform.crop = crop;
      o.transform.reduced_decode = mode.reduced;
      o.transform.region_decode = mode.region;
      inq::LoaderOptions lo;
      lo.batch_size = a.batch;
      lo.drop_last = false;
      lo.workers = w;
      inq::Loader loader(inq::make_imagenet(o), lo);
      std::vector<double> rates, cpu_rates;
      for (int p = 0; p <= passes; ++p) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
        loader.start_epoch(p);
        int64_t images = 0;
        while (const inq::HostBatch* b = loader.next()) images += b->size;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cs = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (p > 0) rates.push_back(static_cast<double>(images) / s);
        if (p > 0) cpu_rates.push_back(static_cast<double>(images) / cs);
      }
      std::sort(rates.begin(), rates.end());
      std::sort(cpu_rates.begin(), cpu_rates.end());
      const double r = rates[rates.size() / 2], cr = cpu_rates[cpu_rates.size() / 2];
      nlohmann::ordered_json j{{"tool", "inq"},       {"what", "loader"},      {"transform", "train"},
                               {"mode", mode.name},   {"reduced", mode.reduced}, {"region", mode.region},
                               {"workers", w},        {"batch", a.batch},      {"images_per_second", r},
                               {"images_per_cpu_second", cr}};
      print_line(a, j,
                 "  loader, train transform, " + std::string(mode.name) + " decode, " + std::to_string(w) +
                     " worker" + (w > 1 ? "s" : "") + ": " + fmt("%.1f", r) + " img/s, " + fmt("%.1f", cr) +
                     " per CPU-second");
    }
  return 0;
}

int run(const Args& a) {
  if (a.what == "decode") return run_decode(a);
  inq::BackendOptions bo;
  bo.threads = a.threads;
  bo.cpu_reference = a.device == "cpu-ref";
  bo.allow_tf32 = a.tf32;
  bo.deterministic = !a.nondeterministic;
  auto be = inq::make_backend(inq::parse_device(a.device), bo);
  inq::ModelOptions mo;
  mo.name = a.model;
  mo.num_classes = a.classes;
  mo.in_channels = a.channels;
  mo.image_size = a.image_size;
  auto net = inq::make_materialized_model(mo, *be, 0);
  if (a.what == "sgd") return run_sgd(a, *be, *net);
  if (a.what == "inq-boundary") return run_inq_boundary(a, *be, *net);
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
  inq::SoftmaxCrossEntropy loss(*be, n, a.classes, 0.0);
  const inq::TrainStepParts parts{*net, loss, sgd};

  std::vector<double> times_ms;
  size_t warmup_peak = 0;  // the first steps reserve more: plans, and the pool before it settles
  for (int i = 0; i < a.warmup + a.steps; ++i) {
    if (i == a.warmup) {
      warmup_peak = be->peak_bytes();
      be->reset_peak_bytes();  // the peak of the measured steps: the steady state
    }
    be->synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    inq::train_step(parts, inq::StepInput{x, lab, static_cast<uint64_t>(i), 0.01, nullptr});
    be->synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= a.warmup) times_ms.push_back(ms);
  }
  loss.request_sums();
  const double mean_loss = loss.take_sums().batch_loss_sum / n;

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
    add_precision(a, j);
    j["threads"] = a.threads;
    j["params"] = net->num_params();
    j["steps"] = a.steps;
    j["warmup"] = a.warmup;
    j["median_ms"] = median;
    j["p10_ms"] = p10;
    j["p90_ms"] = p90;
    j["images_per_second"] = ips;
    j["peak_bytes"] = be->peak_bytes();
    j["warmup_peak_bytes"] = warmup_peak;
    j["scratch_bytes"] = net->scratch_bytes();  // part of peak_bytes: activations and input gradients
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
