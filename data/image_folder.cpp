#include "data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace inq {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLocCsv = "LOC_val_solution.csv";
constexpr const char* kGroundTruth = "ILSVRC2012_validation_ground_truth.txt";

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("imagenet: " + what + ". Accepted layouts: " + accepted_layouts());
}

std::string resolve(const std::string& root, const std::string& p) {
  return fs::path(p).is_absolute() ? p : (fs::path(root) / p).string();
}

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

// Regular files directly in dir, sorted.
std::vector<std::string> list_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (!hidden(e.path()) && e.is_regular_file()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, int32_t> class_map(const std::vector<std::string>& classes) {
  std::map<std::string, int32_t> m;
  for (size_t i = 0; i < classes.size(); ++i) m[classes[i]] = static_cast<int32_t>(i);
  return m;
}

void index_class_folders(const fs::path& dir, ImageIndex& idx) {
  const auto cls = class_map(idx.classes);
  for (const auto& wnid : list_class_dirs(dir.string())) {
    const auto it = cls.find(wnid);
    if (it == cls.end()) fail(dir.string() + "/" + wnid + ": class folder not among the training classes");
    for (auto& f : list_files(dir / wnid)) idx.entries.push_back({std::move(f), it->second});
  }
  idx.layout = "class folders";
}

std::string stem(const std::string& path) { return fs::path(path).stem().string(); }

// Kaggle's LOC_val_solution.csv: "ImageId,PredictionString" then "ILSVRC2012_val_00000001,n01751748 x y x y ...".
std::map<std::string, std::string> read_loc_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path + ": cannot open");
  std::map<std::string, std::string> m;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (n == 1 && line.rfind("ImageId", 0) == 0)) continue;
    const auto comma = line.find(',');
    std::istringstream rest(comma == std::string::npos ? "" : line.substr(comma + 1));
    std::string wnid;
    if (comma == std::string::npos || !(rest >> wnid) || wnid.empty() || wnid[0] != 'n')
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected \"ImageId,wnid ...\", got \"" + line + "\"");
    m[line.substr(0, comma)] = wnid;
  }
  return m;
}

std::vector<std::string> read_lines(const std::string& path, const char* what) {
  std::ifstream f(path);
  if (!f) fail(path + ": cannot open (" + what + ")");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    out.push_back(line);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

// ILSVRC2012_val_00000042 -> 42, or -1.
int64_t val_number(const std::string& name) {
  const auto u = name.find_last_of('_');
  if (u == std::string::npos || u + 1 >= name.size()) return -1;
  int64_t v = 0;
  for (size_t i = u + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

void index_flat_loc(const fs::path& dir, const std::string& csv, ImageIndex& idx) {
  const auto labels = read_loc_csv(csv);
  if (idx.classes.empty()) {
    for (const auto& kv : labels) idx.classes.push_back(kv.second);
    std::sort(idx.classes.begin(), idx.classes.end());
    idx.classes.erase(std::unique(idx.classes.begin(), idx.classes.end()), idx.classes.end());
  }
  const auto cls = class_map(idx.classes);
  for (auto& f : list_files(dir)) {
    const auto it = labels.find(stem(f));
    if (it == labels.end()) throw std::runtime_error(csv + ": no label for " + f);
    const auto c = cls.find(it->second);
    if (c == cls.end()) throw std::runtime_error(csv + ": " + it->second + " (for " + f + ") is not a training class");
    idx.entries.push_back({std::move(f), c->second});
  }
  idx.layout = "flat + " + csv;
}

void index_flat_ground_truth(const fs::path& dir, const std::string& gt, const std::string& wnids_file,
                             ImageIndex& idx) {
  if (wnids_file.empty())
    fail(gt + " numbers the classes in the devkit's order, not by sorted wnid: set data.devkit_wnids to a text file "
              "of the 1000 wnids in devkit id order (from ILSVRC2012_devkit_t12/data/meta.mat, e.g. /usr/bin/python3 -c "
              "\"import scipy.io as s; m=s.loadmat('meta.mat',squeeze_me=True)['synsets']; "
              "print('\\n'.join(x[1] for x in sorted(m, key=lambda x: x[0]) if x[0] <= 1000))\" > devkit_wnids.txt)");
  const auto devkit = read_lines(wnids_file, "data.devkit_wnids");
  if (idx.classes.empty()) {
    idx.classes = devkit;
    std::sort(idx.classes.begin(), idx.classes.end());
  }
  const auto cls = class_map(idx.classes);
  const auto ids = read_lines(gt, "ground truth");
  for (auto& f : list_files(dir)) {
    const int64_t k = val_number(stem(f));
    if (k < 1 || k > static_cast<int64_t>(ids.size()))
      throw std::runtime_error(gt + ": no line for " + f + " (" + std::to_string(ids.size()) + " lines)");
    const std::string& line = ids[static_cast<size_t>(k - 1)];
    char* end = nullptr;
    const long id = std::strtol(line.c_str(), &end, 10);
    if (end == line.c_str() || *end != '\0' || id < 1 || id > static_cast<long>(devkit.size()))
      throw std::runtime_error(gt + ":" + std::to_string(k) + ": expected a class id in 1.." +
                               std::to_string(devkit.size()) + ", got \"" + line + "\"");
    const auto c = cls.find(devkit[static_cast<size_t>(id - 1)]);
    if (c == cls.end()) throw std::runtime_error(wnids_file + ": " + devkit[static_cast<size_t>(id - 1)] + " is not a training class");
    idx.entries.push_back({std::move(f), c->second});
  }
  idx.layout = "flat + " + gt;
}

void index_list_file(const std::string& root, const std::string& list, ImageIndex& idx) {
  std::ifstream f(list);
  if (!f) fail(list + ": list file not found");
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto sp = line.find_last_of(" \t");
    char* end = nullptr;
    const std::string lab = sp == std::string::npos ? "" : line.substr(sp + 1);
    const long v = std::strtol(lab.c_str(), &end, 10);
    // A label beyond int32 (strtol saturates at LONG_MAX) would wrap to a negative class.
    if (sp == std::string::npos || lab.empty() || *end != '\0' || v < 0 || v > std::numeric_limits<int32_t>::max())
      throw std::runtime_error(list + ":" + std::to_string(n) + ": expected \"path label\" (label in 0.." +
                               std::to_string(std::numeric_limits<int32_t>::max()) + "), got \"" + line + "\"");
    std::string p = line.substr(0, line.find_last_not_of(" \t", sp) + 1);
    idx.entries.push_back({resolve(root, p), static_cast<int32_t>(v)});
  }
  idx.layout = "list file " + list;
}

}  // namespace

std::string accepted_layouts() {
  return "ROOT/train/<wnid>/*.JPEG for training; for validation ROOT/val/<wnid>/*.JPEG, or flat ROOT/val/*.JPEG with "
         "LOC_val_solution.csv (in ROOT or ROOT/val, or data.val_labels), or flat with "
         "ILSVRC2012_validation_ground_truth.txt (in ROOT, ROOT/val or ROOT/ILSVRC2012_devkit_t12/data, or "
         "data.val_labels) plus data.devkit_wnids; or a list file of \"path label\" lines (data.train_list, data.val_list)";
}

std::vector<std::string> list_class_dirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (!hidden(e.path()) && e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

ImageIndex index_images(const ImageIndexOptions& o) {
  if (o.root.empty()) fail("data.root is not set");
  if (!fs::is_directory(o.root))
    fail("data.root " + o.root + " is not a directory (set it in the config or with --set data.root=DIR)");
  ImageIndex idx;
  if (!o.list_file.empty()) {
    index_list_file(o.root, resolve(o.root, o.list_file), idx);
    if (idx.entries.empty()) fail(resolve(o.root, o.list_file) + ": no entries");
    std::stable_sort(idx.entries.begin(), idx.entries.end(),
                     [](const ImageEntry& a, const ImageEntry& b) { return a.path < b.path; });
    return idx;
  }
  const fs::path root(o.root), train = root / "train", val = root / "val";
  if (fs::is_directory(train)) idx.classes = list_class_dirs(train.string());
  if (o.train) {
    if (!fs::is_directory(train)) fail(train.string() + " not found");
    if (idx.classes.empty()) fail(train.string() + " has no class folders");
    index_class_folders(train, idx);
  } else {
    if (!fs::is_directory(val)) fail(val.string() + " not found");
    auto find = [&](const char* name) -> std::string {
      if (!o.val_labels.empty()) {
        // The form follows the extension: .csv is Kaggle's, anything else the devkit's.
        const std::string p = resolve(o.root, o.val_labels);
        const bool csv = fs::path(p).extension() == ".csv";
        return csv == (std::string(name) == kLocCsv) ? p : "";
      }
      for (const fs::path& d : {root, val, root / "ILSVRC2012_devkit_t12" / "data"})
        if (fs::is_regular_file(d / name)) return (d / name).string();
      return "";
    };
    if (!o.val_labels.empty() && !fs::is_regular_file(resolve(o.root, o.val_labels)))
      fail("data.val_labels " + resolve(o.root, o.val_labels) + " not found");
    const auto val_dirs = list_class_dirs(val.string());
    if (!val_dirs.empty()) {
      if (idx.classes.empty()) idx.classes = val_dirs;
      index_class_folders(val, idx);
    } else if (const std::string csv = find(kLocCsv); !csv.empty()) {
      index_flat_loc(val, csv, idx);
    } else if (const std::string gt = find(kGroundTruth); !gt.empty()) {
      index_flat_ground_truth(val, gt, o.devkit_wnids.empty() ? "" : resolve(o.root, o.devkit_wnids), idx);
    } else {
      fail(val.string() + " has no class folders and no label file (" + kLocCsv + " or " + kGroundTruth + ") was " +
           (o.val_labels.empty() ? "found" : "recognised in data.val_labels " + o.val_labels));
    }
  }
  if (idx.entries.empty()) fail((o.train ? train : val).string() + " holds no image files");
  std::stable_sort(idx.entries.begin(), idx.entries.end(),
                   [](const ImageEntry& a, const ImageEntry& b) { return a.path < b.path; });
  return idx;
}

ImageKind sniff_image(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageKind::Jpeg;
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && std::equal(png, png + 8, d)) return ImageKind::Png;
  return ImageKind::Other;
}

bool image_header_size(const uint8_t* d, size_t n, int* width, int* height) {
  switch (sniff_image(d, n)) {
    case ImageKind::Png:  // IHDR is the first chunk: width, height big-endian at 16 and 20
      if (n < 24) return false;
      *width = (d[16] << 24) | (d[17] << 16) | (d[18] << 8) | d[19];
      *height = (d[20] << 24) | (d[21] << 16) | (d[22] << 8) | d[23];
      return *width > 0 && *height > 0;
    case ImageKind::Jpeg: {
      size_t i = 2;
      while (i + 4 <= n) {
        if (d[i] != 0xFF) return false;
        const uint8_t m = d[i + 1];
        if (m == 0xFF) {  // fill byte
          ++i;
          continue;
        }
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // markers without a length
          i += 2;
          continue;
        }
        const size_t len = (size_t(d[i + 2]) << 8) | d[i + 3];
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
          if (i + 9 > n) return false;
          *height = (d[i + 5] << 8) | d[i + 6];
          *width = (d[i + 7] << 8) | d[i + 8];
          return *width > 0 && *height > 0;
        }
        if (m == 0xDA || len < 2) return false;  // scan data before any frame header
        i += 2 + len;
      }
      return false;
    }
    case ImageKind::Other:
      return false;
  }
  return false;
}

bool jpeg_complete(const uint8_t* d, size_t n) {
  // Walk the top-level segments to the first SOS (a thumbnail's EOI inside APP1 is skipped), then
  // look for EOI after it: entropy-coded data cannot hold FF D9 (FF is stuffed as FF 00).
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return false;
    const uint8_t m = d[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      i += 2;
      continue;
    }
    const size_t len = (size_t(d[i + 2]) << 8) | d[i + 3];
    if (len < 2) return false;
    if (m == 0xDA) {
      for (size_t k = n - 1; k > i + 2 + len; --k)
        if (d[k] == 0xD9 && d[k - 1] == 0xFF) return true;
      return false;
    }
    i += 2 + len;
  }
  return false;
}

}  // namespace inq
