#include "core/export/inq_model_source.h"

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/inq/log2_levels.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/models/zoo.h"
#include "core/train/checkpoint.h"

namespace inq {
namespace {

const std::string& meta(const SafeTensorsFile& f, const std::string& key) {
  const auto it = f.metadata().find(key);
  if (it == f.metadata().end())
    throw std::runtime_error(f.path() + ": no \"" + key + "\" metadata (not a model.safetensors written by inq_train)");
  return it->second;
}

nlohmann::json parse(const std::string& where, const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": malformed JSON: " + e.what());
  }
}

}  // namespace

std::vector<std::string> InqModelSource::not_fully_quantized() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors)
    if (t.frozen < t.numel) names.push_back(name);
  return names;
}

InqModelSource open_inq_model(const std::string& path, bool require_inq, const std::string& config_path) {
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error(path + ": no such file");
  InqModelSource src;
  src.path = path;
  const SafeTensorsFile file(path);

  ModelOptions mo;
  mo.name = meta(file, "inq.model");
  const nlohmann::json chw = parse(path + " metadata inq.input_chw", meta(file, "inq.input_chw"));
  const nlohmann::json classes = parse(path + " metadata inq.num_classes", meta(file, "inq.num_classes"));
  if (!chw.is_array() || chw.size() != 3 || !classes.is_number_integer())
    throw std::runtime_error(path + ": metadata inq.input_chw should be [C, H, W] and inq.num_classes an integer");
  mo.in_channels = chw[0].get<int>();
  mo.image_size = chw[1].get<int>();
  mo.num_classes = classes.get<int>();
  mo.aux_logits = file.contains("aux1.conv.conv.weight");
  src.backend = make_backend(Device::CPU);
  src.net = make_model(mo);
  src.net->materialize(*src.backend, 0);
  load_weights(path, *src.net, LoadWeightsOptions{});

  const auto inq_meta = file.metadata().find("inq");
  src.has_inq = inq_meta != file.metadata().end();
  if (!src.has_inq) {
    if (require_inq)
      throw std::runtime_error(path + ": no \"inq\" metadata: not an INQ-quantized model (export it with --float, "
                               "or quantize it with inq_train first)");
    return src;
  }
  const nlohmann::json j = parse(path + " metadata inq", inq_meta->second);
  try {
    src.stages_begun = j.value("stages_begun", 0);
    for (const auto& [name, t] : j.at("tensors").items()) {
      InqTensorInfo info;
      info.bits = t.at("bits").get<int>();
      info.n1 = t.at("n1").get<int>();
      if (t.value("zero_free", false))
        throw std::runtime_error("tensor " + name + " has a zero-free level set, which the ONNX export does not "
                                 "support (inq_export's packed format does)");
      const Net::Entry* e = src.net->find(name);
      if (!e) throw std::runtime_error("tensor " + name + " is not in model " + mo.name);
      info.numel = shape_numel(e->param->shape);
      info.frozen = t.value("frozen", info.numel);
      if (info.bits < kMinInqBits || info.bits > kMaxInqBits)
        throw std::runtime_error("tensor " + name + " has bit-width " + std::to_string(info.bits));
      src.tensors[name] = info;
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": metadata inq: " + e.what());
  }

  std::string cfg = config_path;
  if (cfg.empty()) {
    const auto beside = std::filesystem::path(path).parent_path() / "config.json";
    if (std::filesystem::is_regular_file(beside)) cfg = beside.string();
  }
  if (!cfg.empty()) {
    const nlohmann::json c = parse(cfg, read_file(cfg));
    if (c.contains("inq")) src.schedule_json = c["inq"].dump();
  }
  return src;
}

}  // namespace inq
