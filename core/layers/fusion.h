// BatchNorm + ReLU fusion: where a chain (Module::steps(): a Sequential, a residual block's main
// branch) runs a BatchNorm2d directly followed by a ReLU, the BatchNorm applies the ReLU in its own
// kernels (forward max(0, BN(x)); backward dy masked by its kept output) and the ReLU passes its
// tensor through. The module tree is unchanged: parameter names, state_dict order, checkpoints,
// weight loading and the ONNX export (which still emits the Relu node) see the same layers. The
// results are bit for bit those of the unfused layers; a step no longer runs the ReLU's two
// element-wise passes nor holds its input gradient.
#pragma once

#include "core/module.h"

namespace inq {

// Fuses (on) or unfuses (off) every such pair under `root` (root included); returns the number of
// pairs. A module met more than once in the chains is left alone: its other use would need the
// unfused layer. Call between steps (a forward's kept tensors belong to the setting it ran with).
int fuse_batchnorm_relu(Module& root, bool on = true);

}  // namespace inq
