// Accuracy bookkeeping and RUN_DIR/metrics.jsonl: one JSON object per line, appended and flushed
// per record so that a crashed or interrupted run keeps every completed evaluation.
#pragma once
#include <cstdint>
#include <string>

namespace inq {

// Counts, for one batch of logits [n, classes] on the host, the samples whose label is among the
// k highest logits. The label's rank is the number of classes with a strictly larger logit, so
// ties count in the label's favour. k >= classes counts every sample.
int64_t topk_correct(const float* logits, const int32_t* labels, int64_t n, int classes, int k);

// Running sums over an epoch or an evaluation pass. Sums in double: exact enough over 10^6 samples.
struct Accumulator {
  double loss_sum = 0.0;
  int64_t top1 = 0, top5 = 0, samples = 0;
  int64_t skipped = 0;  // evaluation: unreadable images left out (not in `samples`)
  void add(const float* logits, const float* losses, const int32_t* labels, int64_t n, int classes);
  double mean_loss() const { return samples ? loss_sum / static_cast<double>(samples) : 0.0; }
  double top1_rate() const { return samples ? static_cast<double>(top1) / static_cast<double>(samples) : 0.0; }
  double top5_rate() const { return samples ? static_cast<double>(top5) / static_cast<double>(samples) : 0.0; }
};

struct MetricsRecord {
  int64_t epoch = 0;        // 1-based: epochs completed when the record was taken
  int64_t global_step = 0;  // optimizer steps taken so far
  std::string split;        // "train" (running over the epoch) or "test"
  double loss = 0, top1 = 0, top5 = 0;  // mean loss; accuracies as fractions in [0, 1]
  double seconds = 0;                   // wall time of the epoch's training or of the evaluation
  double lr = 0;                        // lr of the epoch's last step
  double images_per_second = 0;
  // Test records: images evaluated and images skipped as unreadable; written when evaluated >= 0.
  int64_t evaluated = -1, skipped = 0;
  // INQ runs only (written when `inq` is set): the stage (0-based; -1 for the reference evaluation
  // of the pretrained weights, the number of stages for the float epochs), its accumulated portion,
  // and whether this test record closes its stage.
  bool inq = false;
  int64_t stage = 0;
  double portion = 0;
  bool stage_end = false;
  // The prune phase before INQ (written when `phase` is set): "phase": "prune", the share of the
  // quantised weights pruned at the record, and whether this test record closes the phase.
  std::string phase;
  double sparsity = 0;
  bool phase_end = false;
};

std::string metrics_json_line(const MetricsRecord& r);  // one line, no newline

class MetricsWriter {
 public:
  explicit MetricsWriter(std::string path) : path_(std::move(path)) {}
  void append(const MetricsRecord& r) const;  // throws std::runtime_error naming the file
  // Resume: drops records of epochs after `completed_epochs`, written after the checkpoint.
  void truncate_after(int64_t completed_epochs) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace inq
