// What a run reports: the header, the live progress line, the epoch, stage, stop and final lines
// on the log, and the records of RUN_DIR/metrics.jsonl. Only rank 0 reports (the others get a
// null log and write no records).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/train/metrics.h"
#include "core/train/progress.h"

namespace inq {

struct TrainingRun;
struct EpochResult;

class RunReporter {
 public:
  explicit RunReporter(const TrainingRun& run);

  Progress& progress() { return progress_; }
  void log(const std::string& line) const;
  void record(const MetricsRecord& record) const;  // appended to metrics.jsonl by rank 0

  // The INQ reference evaluation of the pretrained weights, before stage 1.
  void reference(const MetricsRecord& test) const;
  void epoch_records(const EpochResult& result) const;  // its train and test records
  // The epoch's line ("epoch E/N" or the INQ label), and the count of bad files so far if any.
  void epoch_lines(const EpochResult& result, const std::string& label) const;
  void stopped(int signal_number, int64_t epoch, int64_t batch) const;
  // `quantized`: the INQ level check's summary ("" for FP32); `rewrote`: no epoch was left to train.
  void done(const std::string& quantized, bool rewrote) const;

 private:
  const TrainingRun& run_;
  MetricsWriter metrics_;
  Progress progress_;
};

// The lines printed before training: model, backend, data, schedule, run directory, ranks, INQ
// stages, and where a resume starts or the init weights.
std::string run_header(const TrainingRun& run);

std::string fixed_digits(double value, int digits);  // "%.<digits>f"
std::string compact_number(double value);            // the shortest of ostream's default
std::string percent(int64_t part, int64_t whole);    // "12.34%"

}  // namespace inq
