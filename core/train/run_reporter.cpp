#include "core/train/run_reporter.h"

#include <csignal>
#include <sstream>

#include "core/quant/quant_transform.h"
#include "core/train/inq_run.h"
#include "core/train/training_run.h"

namespace inq {

std::string fixed_digits(double value, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << value;
  return os.str();
}

std::string compact_number(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

std::string percent(int64_t part, int64_t whole) {
  return fixed_digits(whole ? 100.0 * double(part) / double(whole) : 0.0, 2) + "%";
}

namespace {

void model_and_schedule_lines(std::ostringstream& os, const TrainingRun& run) {
  const TrainSettings& settings = run.settings;
  os << "model    " << run.net->model_name() << "  " << run.net->num_params() << " parameters, input "
     << shape_str(run.net->input_chw()) << ", " << run.net->num_classes() << " classes\n"
     << "backend  " << run.backend->description();
  if (run.backend->device() == Device::CPU && (settings.cuda.allow_tf32 || !settings.cuda.deterministic))
    os << " (the cuda section has no effect on the cpu)";
  os << "\n"
     << "data     " << run.data.train_set->describe() << " / " << run.data.test_set->describe() << "\n"
     << "train    " << settings.epochs << " epochs x " << run.data.steps_per_epoch << " steps of "
     << batch_description(settings.batch_size, run.ranks.world_size()) << ", lr " << settings.optimizer.lr << " "
     << settings.lr_schedule.type << ", momentum " << settings.optimizer.momentum << ", weight decay " << settings.optimizer.weight_decay
     << "\n"
     << "run dir  " << run.run_dir.dir();
}

void ranks_line(std::ostringstream& os, const TrainingRun& run) {
  const Ranks& ranks = run.ranks;
  const DistributedSettings& distributed = run.settings.distributed;
  os << "\ndist     " << ranks.comm->description() << " (" << ranks.launch.launcher << " launch): "
     << ranks.world_size() << " ranks x batch " << run.settings.batch_size << " = global batch "
     << ranks.world_size() * run.settings.batch_size << "; lr "
     << (ranks.lr_scale != 1.0 ? "x " + compact_number(ranks.lr_scale) + " (linear scaling)" : "not scaled") << "; "
     << ranks.data_parallel->buckets().size() << " gradient buckets of <= " << compact_number(distributed.bucket_mb)
     << " MB, all-reduced while backward runs; BatchNorm statistics "
     << (distributed.sync_batchnorm ? "synchronised over the ranks (sync_batchnorm)"
                          : "per rank (rank 0's broadcast before evaluation)");
}

// Baseline quantisation (quant section): trained straight-through.
void quant_line(std::ostringstream& os, const TrainingRun& run) {
  const auto* quant = dynamic_cast<const QuantTransform*>(run.transform.get());
  if (!quant) return;
  const QuantSettings& settings = run.settings.quant;
  os << "\nquant    " << quant_method_name(settings.method) << " (" << settings.bits << "-bit), straight-through; "
     << quant->tensors().size() << " tensors, " << quant->total_quantized() << " of " << run.net->num_params()
     << " parameters quantised";
}

void start_line(std::ostringstream& os, const TrainingRun& run) {
  const TrainState& state = run.state;
  if (run.options.resume) {
    const InqPlan* plan = run.inq ? &run.inq->plan() : nullptr;
    os << "\nresume   from epoch " << state.epoch << (state.batch ? ", step " + std::to_string(state.batch) : "")
       << " (global step " << state.global_step << ")"
       << (plan && state.epoch < plan->total_epochs() ? ", " + plan->label(plan->at_epoch(state.epoch)) : "");
  } else if (!run.settings.init_weights.empty()) {
    os << "\ninit     " << run.settings.init_weights;
  }
}

}  // namespace

std::string run_header(const TrainingRun& run) {
  std::ostringstream os;
  model_and_schedule_lines(os, run);
  if (run.ranks.world_size() > 1) ranks_line(os, run);
  if (run.inq) os << run.inq->header_lines(*run.net);
  quant_line(os, run);
  start_line(os, run);
  return os.str();
}

RunReporter::RunReporter(const TrainingRun& run)
    : run_(run),
      metrics_(run.run_dir.metrics()),
      progress_(run.options.log, run.settings.epochs, run.data.steps_per_epoch, run.settings.log_every) {}

void RunReporter::log(const std::string& line) const { run_.log(line); }

void RunReporter::record(const MetricsRecord& record) const {
  if (run_.ranks.root) metrics_.append(record);
}

void RunReporter::reference(const MetricsRecord& test) const {
  record(test);
  log("reference (pretrained weights, before stage 1): test loss " + fixed_digits(test.loss, 4) + " top1 " +
      fixed_digits(100 * test.top1, 2) + "% top5 " + fixed_digits(100 * test.top5, 2) + "%");
}

void RunReporter::epoch_records(const EpochResult& result) const {
  record(result.train);
  record(result.test);
}

void RunReporter::epoch_lines(const EpochResult& result, const std::string& label) const {
  const MetricsRecord& train = result.train;
  const MetricsRecord& test = result.test;
  const int64_t epochs = run_.settings.epochs;
  log((label.empty() ? "epoch " + std::to_string(train.epoch) + "/" + std::to_string(epochs) : label) +
      "  train loss " + fixed_digits(train.loss, 4) + " top1 " + fixed_digits(100 * train.top1, 2) +
      "%  test loss " + fixed_digits(test.loss, 4) + " top1 " + fixed_digits(100 * test.top1, 2) + "% top5 " +
      fixed_digits(100 * test.top5, 2) + "%  lr " + fixed_digits(train.lr, 6) + "  " +
      fixed_digits(train.images_per_second, 0) + " img/s  " + format_duration(train.seconds + test.seconds));
  const int64_t train_bad = run_.data.train_set->bad_samples(), test_bad = run_.data.test_set->bad_samples();
  if (const int64_t bad = train_bad + test_bad)
    log("bad files so far: " + std::to_string(bad) + " (" + std::to_string(train_bad) + " training, " +
        std::to_string(test_bad) + " test), each logged once; training replaces them, evaluation leaves them out");
}

void RunReporter::stopped(int signal_number, int64_t epoch, int64_t batch) const {
  const InqPlan* plan = run_.inq ? &run_.inq->plan() : nullptr;
  log("stopped by " + std::string(signal_number == SIGTERM ? "SIGTERM" : "SIGINT") + " at epoch " +
      std::to_string(epoch + 1) + (plan ? " (" + plan->label(plan->at_epoch(epoch)) + ")" : "") + ", step " +
      std::to_string(batch) + "/" + std::to_string(run_.data.steps_per_epoch) + ": checkpoint saved to " +
      run_.run_dir.checkpoint());
}

void RunReporter::done(const std::string& quantized, bool rewrote) const {
  if (rewrote)
    log("run already complete (" + std::to_string(run_.settings.epochs) + " epochs); rewrote " +
        run_.run_dir.model() + quantized);
  else
    log("done: " + run_.run_dir.model() + quantized);
}

}  // namespace inq
