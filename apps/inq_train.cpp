// inq_train: training of a zoo model from a JSON config (keys: configs/README.md): FP32, or INQ
// (incremental quantization of the pretrained init.weights) when the config has an "inq" section.
//   inq_train CONFIG [--set key=value]... [--out RUN_DIR]
//   inq_train [CONFIG] --resume RUN_DIR [--set key=value]...
// Exit codes: 0 done, 1 runtime failure, 2 bad input (arguments, config, files), 3 non-finite
// loss, 128+signal when stopped by SIGINT/SIGTERM after writing a checkpoint.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "core/config.h"
#include "core/train/trainer.h"

namespace {

const char* kUsage =
    "usage: inq_train CONFIG [--set key=value]... [--out RUN_DIR]\n"
    "       inq_train [CONFIG] --resume RUN_DIR [--set key=value]...\n"
    "  CONFIG            JSON config; every key is documented in configs/README.md; with an \"inq\"\n"
    "                    section the pretrained init.weights are quantized stage by stage\n"
    "  --set key=value   override a config key by dotted path (value parsed as JSON, else a string)\n"
    "  --out RUN_DIR     run directory (default: the config's \"out\", else runs/<config name>)\n"
    "  --resume RUN_DIR  continue the run in RUN_DIR from its checkpoint (config from RUN_DIR/config.json\n"
    "                    unless CONFIG is given)\n"
    "  --stop-after-steps N  act as if SIGINT arrived after N optimizer steps (testing)\n";

struct Args {
  std::string config, out, resume;
  std::vector<std::string> sets;
  long long stop_after_steps = -1;
};

Args parse_args(int argc, char** argv) {
  const inq::cli::Parser parser("inq_train", kUsage);
  Args a;
  std::string stop_after;
  inq::cli::ConfigArgs c =
      parser.parse(argc, argv, {{"--out", &a.out}, {"--resume", &a.resume}, {"--stop-after-steps", &stop_after}});
  a.config = std::move(c.config);
  a.sets = std::move(c.sets);
  if (!stop_after.empty()) {
    char* end = nullptr;
    a.stop_after_steps = std::strtoll(stop_after.c_str(), &end, 10);
    if (*end != '\0' || a.stop_after_steps < 0) parser.fail("--stop-after-steps needs an integer >= 0");
  }
  if (a.config.empty() && a.resume.empty()) parser.fail("no config given");
  if (!a.resume.empty() && !a.out.empty() &&
      std::filesystem::path(a.resume).lexically_normal() != std::filesystem::path(a.out).lexically_normal())
    parser.fail("--out and --resume name different directories");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  inq::install_stop_handlers();
  const Args args = parse_args(argc, argv);

  inq::RunOptions options;
  options.out = args.resume.empty() ? args.out : args.resume;
  options.resume = !args.resume.empty();
  options.stop_after_steps = args.stop_after_steps;

  std::unique_ptr<inq::Trainer> trainer;
  try {
    std::string path = args.config;
    if (path.empty()) {
      path = (std::filesystem::path(args.resume) / "config.json").string();
      if (!std::filesystem::exists(path))
        throw std::runtime_error("--resume " + args.resume + ": no run to resume there (" + path + " not found)");
    }
    inq::Config config = inq::Config::load(path);
    for (const auto& s : args.sets) config.apply_override(s);
    trainer = std::make_unique<inq::Trainer>(std::move(config), options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_train: error: %s\n", e.what());
    return 2;
  }

  try {
    const inq::TrainSummary sum = trainer->run();
    if (sum.stop_signal) {
      std::fprintf(stderr, "inq_train: interrupted; resume with: %s --resume %s\n", argv[0], trainer->run_dir().c_str());
      return 128 + sum.stop_signal;
    }
  } catch (const inq::TrainingDiverged& e) {
    std::fprintf(stderr, "inq_train: training diverged: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inq_train: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
