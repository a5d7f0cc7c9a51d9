// Helpers of the ONNX export tests: zoo models with INQ-quantized weights (every conv and linear
// weight projected onto its level set, as at sigma = 1), random BatchNorm statistics, and model
// files with the INQ metadata inq_train writes.
#pragma once
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/export/inq_model_source.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"
#include "core/models/zoo.h"
#include "core/rng.h"

namespace inq::test {

// A zoo model on the CPU with `bits`-bit INQ weights (frozen = numel unless `frozen_share` < 1).
inline InqModelSource quantized_source(const ModelOptions& mo, int bits, uint64_t seed, double frozen_share = 1.0) {
  InqModelSource src;
  src.path = mo.name + " (test)";
  src.backend = make_backend(Device::CPU);
  src.net = make_model(mo);
  src.net->materialize(*src.backend, seed);
  src.has_inq = true;
  src.stages_begun = 1;
  Rng rng(seed + 7);
  for (const auto& e : src.net->entries()) {
    if (e.is_buffer && e.name.find("running_") != std::string::npos) {  // BatchNorm statistics
      std::vector<float> v = src.net->get(e.name);
      const bool var = e.name.find("running_var") != std::string::npos;
      for (float& x : v) x = var ? float(rng.uniform(0.5, 2.0)) : float(rng.normal(0.0, 0.2));
      src.net->set(e.name, v);
    }
    if (e.is_buffer || !default_quantized(e.name, e.param->shape)) continue;
    std::vector<float> w = src.net->get(e.name);
    float max_abs = 0.0f;
    for (float x : w) max_abs = std::max(max_abs, std::fabs(x));
    InqTensorInfo info;
    info.bits = bits;
    info.n1 = inq_n1(max_abs);
    info.numel = int64_t(w.size());
    info.frozen = int64_t(std::llround(frozen_share * double(w.size())));
    for (float& x : w) x = inq_project(x, info.n1, inq_n2(info.n1, bits));
    src.net->set(e.name, w);
    src.tensors[e.name] = info;
  }
  return src;
}

// model.safetensors as inq_train's save_model writes it, with "inq" metadata when `with_inq`.
inline void write_model_file(const std::string& path, const InqModelSource& src, bool with_inq = true) {
  Net& net = *src.net;
  SafeTensorsWriter w;
  for (const auto& e : net.entries()) {
    const std::vector<float> v = net.get(e.name);
    if (e.name.size() >= 19 && e.name.compare(e.name.size() - 19, 19, "num_batches_tracked") == 0) {
      std::vector<int64_t> i(v.begin(), v.end());
      w.add_i64(e.name, e.param->shape, i.data());
    } else {
      w.add_f32(e.name, e.param->shape, v.data());
    }
  }
  w.set_metadata("format", "pt");
  w.set_metadata("inq.model", net.model_name());
  w.set_metadata("inq.num_classes", std::to_string(net.num_classes()));
  w.set_metadata("inq.input_chw", shape_str(net.input_chw()));
  if (with_inq) {
    nlohmann::json j;
    j["stages_begun"] = src.stages_begun;
    for (const auto& [name, t] : src.tensors)
      j["tensors"][name] = {{"bits", t.bits}, {"n1", t.n1}, {"frozen", t.frozen}};
    w.set_metadata("inq", j.dump());
  }
  w.write(path);
}

inline std::vector<float> random_images(const Net& net, int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(n * shape_numel(net.input_chw())));
  for (float& v : x) v = float(rng.normal(0.0, 1.0));
  return x;
}

}  // namespace inq::test
