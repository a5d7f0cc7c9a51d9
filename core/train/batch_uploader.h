// Device copies of the loader's host batches, in two alternating device buffers. On CUDA each
// upload runs on the backend's copy stream and waits only for the work that read the buffer it
// overwrites (all issued before the previous upload), so copying batch i+1 overlaps the rest of
// batch i's step. On the CPU the copies are plain.
#pragma once
#include <cstdint>
#include <memory>

#include "core/backend.h"
#include "core/tensor.h"
#include "data/loader.h"

namespace inq {

class BatchUploader {
 public:
  struct DeviceBatch {
    Tensor images;          // [n, c, h, w]
    const int32_t* labels;  // n labels on the device
  };

  // Buffers for batches of up to `rows` images of shape `chw`.
  BatchUploader(Backend& be, const Shape& chw, int64_t rows);

  int64_t rows() const { return x_[0].dim(0); }
  // The batch on the device, valid until the upload after next. The host batch must stay unchanged
  // until the copy has read it: next() waits for that before handing it back to the loader. Throws
  // std::invalid_argument for a batch larger than the buffers or smaller than its size field.
  DeviceBatch upload(const HostBatch& b);
  // The loader's next batch (nullptr at the epoch's end). Handing the previous batch back to the
  // loader's workers is an explicit event: first the uploads issued so far must have read their
  // host memory (Backend::wait_uploads; on CUDA the copy stream, never the compute stream).
  const HostBatch* next(Loader& loader);

 private:
  Backend& be_;
  Tensor x_[2];
  std::shared_ptr<Storage> labels_[2];
  uint64_t released_[2] = {0, 0};  // stream positions after which buffer k is free to overwrite
  int last_ = 1;                   // the buffer of the latest upload
};

}  // namespace inq
