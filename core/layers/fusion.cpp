#include "core/layers/fusion.h"

#include <map>
#include <vector>

#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"

namespace inq {

int fuse_batchnorm_relu(Module& root, bool on) {
  std::vector<std::vector<Module*>> chains;
  std::map<const Module*, int> uses;
  root.for_each_module([&](const std::string&, Module& m) {
    chains.push_back(m.steps());
    for (const Module* s : chains.back()) ++uses[s];
  });
  int pairs = 0;
  for (const std::vector<Module*>& chain : chains)
    for (size_t i = 0; i + 1 < chain.size(); ++i) {
      auto* bn = dynamic_cast<BatchNorm2d*>(chain[i]);
      auto* relu = dynamic_cast<ReLU*>(chain[i + 1]);
      if (!bn || !relu || uses[bn] != 1 || uses[relu] != 1) continue;
      bn->set_fused_relu(on);
      relu->set_fused(on);
      ++pairs;
    }
  return pairs;
}

}  // namespace inq
