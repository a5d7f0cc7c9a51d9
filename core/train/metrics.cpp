#include "core/train/metrics.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/atomic_file.h"

namespace inq {

int64_t topk_correct(const float* logits, const int32_t* labels, int64_t n, int classes, int k) {
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits + i * classes;
    const int32_t label = labels[i];
    if (label < 0 || label >= classes)
      throw std::out_of_range("label " + std::to_string(label) + " outside [0, " + std::to_string(classes) + ")");
    const float target = row[label];
    int rank = 0;
    for (int j = 0; j < classes; ++j) rank += row[j] > target ? 1 : 0;
    correct += rank < k ? 1 : 0;
  }
  return correct;
}

void Accumulator::add(const float* logits, const float* losses, const int32_t* labels, int64_t n, int classes) {
  for (int64_t i = 0; i < n; ++i) loss_sum += static_cast<double>(losses[i]);
  top1 += topk_correct(logits, labels, n, classes, 1);
  top5 += topk_correct(logits, labels, n, classes, 5);
  samples += n;
}

std::string metrics_json_line(const MetricsRecord& r) {
  nlohmann::ordered_json j;
  j["epoch"] = r.epoch;
  j["global_step"] = r.global_step;
  j["split"] = r.split;
  j["loss"] = r.loss;
  j["top1"] = r.top1;
  j["top5"] = r.top5;
  j["seconds"] = r.seconds;
  j["lr"] = r.lr;
  j["images_per_second"] = r.images_per_second;
  if (r.evaluated >= 0) {
    j["evaluated"] = r.evaluated;
    j["skipped"] = r.skipped;
  }
  if (r.inq) {
    j["stage"] = r.stage;
    j["portion"] = r.portion;
    if (r.stage_end) j["stage_end"] = true;
  }
  if (!r.phase.empty()) {
    j["phase"] = r.phase;
    j["sparsity"] = r.sparsity;
    if (r.phase_end) j["phase_end"] = true;
  }
  return j.dump();
}

void MetricsWriter::append(const MetricsRecord& r) const {
  std::ofstream f(path_, std::ios::app);
  if (!f) throw std::runtime_error("cannot open " + path_ + " for appending: " + std::strerror(errno));
  f << metrics_json_line(r) << '\n';
  f.flush();
  if (!f) throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno) + " (errno " + std::to_string(errno) + ")");
}

void MetricsWriter::truncate_after(int64_t completed_epochs) const {
  std::ifstream in(path_);
  if (!in) return;  // nothing written yet
  std::string line, kept;
  bool dropped = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {  // a line torn by a kill or a full disk
      dropped = true;
      continue;
    }
    if (j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer() &&
        j["epoch"].get<int64_t>() > completed_epochs) {
      dropped = true;
      continue;
    }
    kept += line + '\n';
  }
  in.close();
  if (dropped) write_file_atomic(path_, kept);
}

}  // namespace inq
