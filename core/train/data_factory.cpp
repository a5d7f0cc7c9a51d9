#include "core/train/data_factory.h"

#include <algorithm>

#include "core/config.h"
#include "data/fashion_mnist.h"
#include "data/imagenet.h"
#include "data/synthetic.h"

namespace inq {
namespace {

// Images [offset, offset + count) of another dataset: the synthetic test split, and limits.
class SubsetDataset final : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, int64_t offset, int64_t count, std::string name)
      : base_(std::move(base)), offset_(offset), count_(count), name_(std::move(name)) {}
  int64_t size() const override { return count_; }
  int num_classes() const override { return base_->num_classes(); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  int32_t get(int64_t i, float* out, Rng& rng) const override { return base_->get(offset_ + i, out, rng); }
  std::string describe() const override { return name_ + " (" + std::to_string(count_) + " images)"; }

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t offset_, count_;
  std::string name_;
};

}  // namespace

DataSplits make_data_splits(const DataSettings& d, const ModelOptions& m) {
  std::shared_ptr<const Dataset> train_set, test_set;
  if (d.dataset == "fashion_mnist") {
    train_set = make_fashion_mnist(d.root, true, d.augment, d.train_limit);
    test_set = make_fashion_mnist(d.root, false, false, d.test_limit);
  } else if (d.dataset == "imagenet") {
    ImageNetOptions o;
    o.index.root = d.root;
    o.index.list_file = d.train_list;
    o.index.val_labels = d.val_labels;
    o.index.devkit_wnids = d.devkit_wnids;
    o.transform.train = d.augment;  // without augmentation, training images get the evaluation transform
    o.transform.crop = m.image_size;
    o.transform.resize = d.eval_resize;
    o.transform.scale_min = d.min_scale;
    o.transform.reduced_decode = d.reduced_decode;
    o.transform.region_decode = d.region_decode;
    o.max_bad_share = d.max_bad_share;
    o.limit = d.train_limit;
    train_set = make_imagenet(o);
    o.index.train = false;
    o.index.list_file = d.val_list;
    o.transform.train = false;
    o.skip_bad = true;  // evaluation counts each readable image once and skips the others
    o.max_bad_share = d.max_bad_share_eval;
    o.limit = d.test_limit;
    test_set = make_imagenet(o);
  } else {
    // One synthetic stream split in two, so both splits share the class-dependent means.
    const int64_t n_train = d.train_limit ? std::min(d.train_limit, d.synthetic_size) : d.synthetic_size;
    const int64_t n_test = d.test_limit ? std::min(d.test_limit, d.synthetic_test_size) : d.synthetic_test_size;
    auto all = make_synthetic(d.synthetic_size + d.synthetic_test_size, {m.in_channels, m.image_size, m.image_size},
                              m.num_classes, d.synthetic_seed);
    train_set = std::make_shared<SubsetDataset>(all, 0, n_train, "synthetic train");
    test_set = std::make_shared<SubsetDataset>(all, d.synthetic_size, n_test, "synthetic test");
  }
  const Shape want = {m.in_channels, m.image_size, m.image_size};
  if (train_set->sample_shape() != want)
    throw ConfigError("model: data." + d.dataset + " gives images of shape " + shape_str(train_set->sample_shape()) +
                      " but model.in_channels/model.image_size ask for " + shape_str(want));
  if (train_set->num_classes() > m.num_classes)
    throw ConfigError("model.num_classes: " + std::to_string(m.num_classes) + " is fewer than the " +
                      std::to_string(train_set->num_classes()) + " classes of data." + d.dataset);
  return {std::move(train_set), std::move(test_set)};
}

}  // namespace inq
