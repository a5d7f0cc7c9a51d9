// Fashion-MNIST from the IDX files of Debian's dataset-fashion-mnist (gzip or plain):
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] under `root`. Normalised with mean 0.2860,
// std 0.3530; training augmentation: random crop 28 from the image zero-padded by 2, and a
// horizontal flip with probability 1/2.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"

namespace inq {

constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

// limit > 0 keeps the first `limit` images. Throws std::runtime_error naming the missing or
// malformed file (and, if missing, the Debian package that provides it).
std::shared_ptr<Dataset> make_fashion_mnist(const std::string& root, bool train, bool augment, int64_t limit = 0);

}  // namespace inq
