#include "core/inq/projection_preview.h"

#include <algorithm>
#include <cmath>

#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"

namespace inq {

std::vector<ProjectionPreview> preview_projection(const SafeTensorsFile& file, int bits, N1Rule rule, bool zero_free) {
  std::vector<ProjectionPreview> out;
  for (const auto& name : file.names()) {
    if (!default_quantized(name, file.info(name).shape)) continue;
    const std::vector<float> w = file.read_f32(name);
    ProjectionPreview p;
    p.name = name;
    p.numel = int64_t(w.size());
    p.n1 = choose_n1(w.data(), p.numel, bits, zero_free, rule);
    p.n2 = inq_n2(p.n1, bits, zero_free);
    for (float v : w) {
      p.max_abs = std::max(p.max_abs, std::fabs(v));
      p.weight_norm2 += double(v) * double(v);
      if (inq_project(v, p.n1, p.n2, zero_free) == 0.0f) ++p.zeros;
    }
    p.error_norm2 = projection_error(w.data(), p.numel, p.n1, bits, zero_free);
    out.push_back(p);
  }
  return out;
}

}  // namespace inq
