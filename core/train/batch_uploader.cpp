#include "core/train/batch_uploader.h"

#include <stdexcept>
#include <string>

namespace inq {

BatchUploader::BatchUploader(Backend& be, const Shape& chw, int64_t rows) : be_(be) {
  for (int k = 0; k < 2; ++k) {
    x_[k] = empty(be, {rows, chw[0], chw[1], chw[2]});
    labels_[k] = be.allocate(static_cast<size_t>(rows) * sizeof(int32_t));
  }
  // The copy stream may use the buffers only after their (stream-ordered) allocation.
  released_[0] = released_[1] = be.stream_position();
}

BatchUploader::DeviceBatch BatchUploader::upload(const HostBatch& b) {
  const int64_t n = b.size;
  const int64_t floats = n * x_[0].numel() / x_[0].dim(0);
  if (n < 1 || n > rows())
    throw std::invalid_argument("batch of " + std::to_string(n) + " images does not fit the device buffers (" +
                                std::to_string(rows()) + " rows)");
  if (static_cast<int64_t>(b.images.size()) < floats || static_cast<int64_t>(b.labels.size()) < n)
    throw std::invalid_argument("the loader returned a batch smaller than its size field");
  // Everything that reads the latest batch has been issued by now: the buffer after it is free once
  // that work is done.
  released_[last_] = be_.stream_position();
  const int k = 1 - last_;
  be_.copy_from_host_after(released_[k], x_[k].data(), b.images.data(), static_cast<size_t>(floats) * sizeof(float));
  be_.copy_from_host_after(released_[k], labels_[k]->data(), b.labels.data(), static_cast<size_t>(n) * sizeof(int32_t));
  last_ = k;
  return {x_[k].narrow_rows(0, n), static_cast<const int32_t*>(labels_[k]->data())};
}

const HostBatch* BatchUploader::next(Loader& loader) {
  be_.wait_uploads();
  return loader.next();
}

}  // namespace inq
