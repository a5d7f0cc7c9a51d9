#include "core/train/data_factory.h"

#include <algorithm>

#include "core/config.h"
#include "core/train/config_checks.h"
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

double share(Config& c, const std::string& key, double def) {
  const double v = c.get_double(key, def);
  if (!(v >= 0 && v <= 1)) throw ConfigError(key + ": must be in [0, 1] (got " + std::to_string(v) + ")");
  return v;
}

// ---- fashion_mnist

void read_fashion_mnist(Config& c, DataSettings& d) {
  d.root = c.get_string("data.root", kFashionMnistRoot);
  d.augment = c.get_bool("data.augment", true);
}

DataSplits make_fashion_mnist_splits(const DataSettings& d, const ModelOptions&) {
  return {make_fashion_mnist(d.root, true, d.augment, d.train_limit),
          make_fashion_mnist(d.root, false, false, d.test_limit)};
}

// ---- synthetic

void read_synthetic(Config& c, DataSettings& d) {
  d.augment = false;
  d.synthetic_size = positive(c, "data.synthetic.size", d.synthetic_size);
  d.synthetic_test_size = positive(c, "data.synthetic.test_size", d.synthetic_test_size);
  d.synthetic_seed = static_cast<uint64_t>(non_negative(c, "data.synthetic.seed", 0));
}

// One synthetic stream split in two, so both splits share the class-dependent means.
DataSplits make_synthetic_splits(const DataSettings& d, const ModelOptions& m) {
  const int64_t n_train = d.train_limit ? std::min(d.train_limit, d.synthetic_size) : d.synthetic_size;
  const int64_t n_test = d.test_limit ? std::min(d.test_limit, d.synthetic_test_size) : d.synthetic_test_size;
  auto all = make_synthetic(d.synthetic_size + d.synthetic_test_size, {m.in_channels, m.image_size, m.image_size},
                            m.num_classes, d.synthetic_seed);
  return {std::make_shared<SubsetDataset>(all, 0, n_train, "synthetic train"),
          std::make_shared<SubsetDataset>(all, d.synthetic_size, n_test, "synthetic test")};
}

// ---- imagenet

void read_imagenet(Config& c, DataSettings& d) {
  d.root = c.get_string("data.root", "");
  if (d.root.empty())
    throw ConfigError("data.root: required with data.dataset \"imagenet\" (the ILSVRC-2012 directory)");
  d.augment = c.get_bool("data.augment", true);
  d.train_list = c.get_string("data.train_list", "");
  d.val_list = c.get_string("data.val_list", "");
  d.val_labels = c.get_string("data.val_labels", "");
  d.devkit_wnids = c.get_string("data.devkit_wnids", "");
  // Default: torchvision's 256 for 224, in proportion for other sizes.
  const int size = static_cast<int>(c.has("model.image_size") ? c.get_int("model.image_size") : 224);
  d.eval_resize = static_cast<int>(positive(c, "data.eval_resize", size * 8 / 7));
  d.min_scale = c.get_double("data.min_scale", d.min_scale);
  if (!(d.min_scale > 0 && d.min_scale <= 1))
    throw ConfigError("data.min_scale: must be in (0, 1] (got " + std::to_string(d.min_scale) + ")");
  d.reduced_decode = c.get_bool("data.reduced_decode", d.reduced_decode);
  d.region_decode = c.get_bool("data.region_decode", d.region_decode);
  d.max_bad_share = share(c, "data.max_bad_share", d.max_bad_share);
  d.max_bad_share_eval = share(c, "data.max_bad_share_eval", d.max_bad_share_eval);
}

DataSplits make_imagenet_splits(const DataSettings& d, const ModelOptions& m) {
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
  DataSplits splits;
  splits.train = make_imagenet(o);
  o.index.train = false;
  o.index.list_file = d.val_list;
  o.transform.train = false;
  o.skip_bad = true;  // evaluation counts each readable image once and skips the others
  o.max_bad_share = d.max_bad_share_eval;
  o.limit = d.test_limit;
  splits.test = make_imagenet(o);
  return splits;
}

}  // namespace

const std::vector<DatasetEntry>& dataset_registry() {
  static const std::vector<DatasetEntry> entries = {
      {"fashion_mnist", "Fashion-MNIST IDX files (28x28 grey, 10 classes)", {"data.root", "data.augment"},
       {10, 1, 28}, read_fashion_mnist, make_fashion_mnist_splits},
      {"synthetic", "generated images with class-dependent means (tests, benchmarks)", {"data.synthetic"}, {},
       read_synthetic, make_synthetic_splits},
      {"imagenet", "ILSVRC-2012 JPEG tree or list files (data/imagenet.h)",
       {"data.root", "data.augment", "data.train_list", "data.val_list", "data.val_labels", "data.devkit_wnids",
        "data.eval_resize", "data.min_scale", "data.reduced_decode", "data.region_decode", "data.max_bad_share",
        "data.max_bad_share_eval"},
       {}, read_imagenet, make_imagenet_splits},
  };
  return entries;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const DatasetEntry& e : dataset_registry()) names.push_back(e.name);
  return names;
}

const DatasetEntry* find_dataset(const std::string& name) {
  for (const DatasetEntry& e : dataset_registry())
    if (name == e.name) return &e;
  return nullptr;
}

std::string unknown_dataset_message(const std::string& name) {
  std::string list;
  for (const DatasetEntry& e : dataset_registry()) list += (list.empty() ? "" : ", ") + std::string(e.name);
  return "unknown dataset \"" + name + "\", expected one of " + list;
}

void read_data_settings(Config& c, DataSettings& d) {
  d.dataset = c.get_string("data.dataset", d.dataset);
  const DatasetEntry* entry = find_dataset(d.dataset);
  if (!entry) throw ConfigError("data.dataset: " + unknown_dataset_message(d.dataset));
  d.train_limit = non_negative(c, "data.train_limit", 0);
  d.test_limit = non_negative(c, "data.test_limit", 0);
  d.workers = static_cast<int>(non_negative(c, "data.workers", 0));
  for (const DatasetEntry& other : dataset_registry())
    for (const std::string& key : other.keys)
      if (std::find(entry->keys.begin(), entry->keys.end(), key) == entry->keys.end() && c.has(key))
        throw ConfigError(key + ": not used with data.dataset \"" + d.dataset + "\"");
  entry->read(c, d);
}

DataSplits make_data_splits(const DataSettings& d, const ModelOptions& m) {
  const DatasetEntry* entry = find_dataset(d.dataset);
  if (!entry) throw ConfigError("data.dataset: " + unknown_dataset_message(d.dataset));
  DataSplits splits = entry->make(d, m);
  const std::shared_ptr<const Dataset>& train_set = splits.train;
  const Shape want = {m.in_channels, m.image_size, m.image_size};
  if (train_set->sample_shape() != want)
    throw ConfigError("model: data." + d.dataset + " gives images of shape " + shape_str(train_set->sample_shape()) +
                      " but model.in_channels/model.image_size ask for " + shape_str(want));
  if (train_set->num_classes() > m.num_classes)
    throw ConfigError("model.num_classes: " + std::to_string(m.num_classes) + " is fewer than the " +
                      std::to_string(train_set->num_classes()) + " classes of data." + d.dataset);
  return splits;
}

}  // namespace inq
