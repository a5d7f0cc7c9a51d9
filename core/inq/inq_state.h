// The state of an INQ run: which tensors are quantized, their levels (fixed once from the
// pretrained weights), and the persistent per-weight mask over the flat parameter buffer.
// The mask only ever grows: a frozen weight is never freed again, even when it projected to 0
// (rebuilding the mask from |W| would free those — the bug of both public implementations).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/net.h"
#include "core/inq/inq_partition.h"
#include "core/inq/n1_rule.h"

namespace inq {

class SafeTensorsFile;
class SafeTensorsWriter;

struct InqOptions {
  int bits = 5;
  std::vector<double> portions{0.5, 0.75, 0.875, 1.0};  // accumulated, strictly increasing, ending at 1
  InqPartition partition = InqPartition::Magnitude;
  uint64_t seed = 0;                       // random partition stream (identical on every rank)
  std::vector<std::string> include;        // glob patterns over parameter names; empty: every conv/linear weight
  std::vector<std::string> exclude;        // glob patterns removed from the included set
  std::map<std::string, int> bits_override;  // glob pattern -> bit-width, first match wins
  N1Rule n1_rule = N1Rule::Max;            // how n1 is fixed from the pretrained weights
  bool zero_free = false;                  // level sets {±2^n2 .. ±2^n1} without 0 (core/inq/log2_levels.h)
};

// Throws std::invalid_argument naming the offending setting.
void validate_inq_options(const InqOptions& options);

struct InqTensor {
  std::string name;
  int64_t offset = 0;  // into the flat parameter buffer, in floats
  int64_t numel = 0;
  int bits = 0;
  int n1 = 0;
  int64_t frozen = 0;  // weights frozen so far (pruned ones included)
  int64_t pruned = 0;  // of those, pruned before INQ (frozen zeros); portions count the survivors
  bool zero_free = false;
  int n2() const;
  int64_t survivors() const { return numel - pruned; }
};

class InqState {
 public:
  // Chooses the quantized tensors and fixes n1 from the Net's current (pretrained) weights.
  InqState(Net& net, const InqOptions& options);

  const InqOptions& options() const { return options_; }
  const std::vector<InqTensor>& tensors() const { return tensors_; }
  int stages_begun() const { return stages_begun_; }
  // Device pointer: one byte per float of the flat parameter buffer, 1 = frozen.
  const uint8_t* mask() const { return static_cast<const uint8_t*>(mask_->data()); }

  // Freezes, in every quantized tensor, weights chosen among the still-free ones until
  // pruned + round(portions[stage] * survivors) are frozen (without pruning: round(portions[stage] *
  // numel)); projects them once and zeroes their momentum
  // (`momentum`: the optimizer's flat buffer on the backend, or null). Stages run in order.
  void begin_stage(int stage, float* momentum);

  // Pruning before INQ (core/prune): the mask on the device, to freeze pruned weights as zeros in,
  // and the count of pruned weights per tensor (index into tensors()). Only before stage 1.
  uint8_t* mutable_mask();
  void set_pruned(size_t tensor, int64_t pruned);
  // Fixes n1 anew from the current weights, over the weights not frozen (the survivors of pruning):
  // the pruned model is INQ's pretrained model. Only before stage 1.
  void fix_levels();

  int64_t total_quantized() const;
  int64_t total_frozen() const;

  // Checkpoint support: levels and counts in metadata, masks as U8 tensors "inq_mask/<name>".
  void save(SafeTensorsWriter& writer) const;
  void load(const SafeTensorsFile& file);  // throws if the file's INQ state does not fit this net
  // {"stages_begun":..,"tensors":{name:{bits,n1,frozen[,pruned]}}}; "zero_free": true per tensor and
  // "n1_rule": "mse" only when set, so that files of runs without them stay as they were.
  std::string metadata_json() const;

 private:
  Net& net_;
  InqOptions options_;
  std::vector<InqTensor> tensors_;
  std::shared_ptr<Storage> mask_;
  std::shared_ptr<Storage> select_;  // scratch, sized for the largest tensor
  int stages_begun_ = 0;
};

// Whether `name` (a Net entry name of `shape`) is quantized by default: conv and linear weights.
bool default_quantized(const std::string& name, const Shape& shape);

}  // namespace inq
