// ImageNet-style dataset indexes: which files, which labels. No decoding here (data/opencv/ does
// that), so this part builds and is tested without OpenCV too.
//
// Accepted forms, all under one root:
//  - train:  train/<wnid>/*            (class folders)
//  - val:    val/<wnid>/*              (class folders, e.g. after valprep.sh), or
//            val/* flat with LOC_val_solution.csv (Kaggle) in root or val/, or
//            val/* flat with ILSVRC2012_validation_ground_truth.txt (devkit ids, in devkit order:
//            mapped to wnids through a text file of the 1000 wnids in devkit order)
//  - a list file: "relative/path label" per line (paths relative to root), either split.
// Class index = position of the wnid in sorted order (torchvision's ImageFolder); the classes are
// those of train/ when it exists, so val labels agree with training.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace inq {

struct ImageEntry {
  std::string path;  // absolute or relative to the process, ready to open
  int32_t label = 0;
};

struct ImageIndex {
  std::vector<std::string> classes;  // sorted wnids (empty for list files)
  std::vector<ImageEntry> entries;   // sorted by path: the order does not depend on the filesystem
  std::string layout;                // what was found, for logs: "class folders", "LOC_val_solution.csv", ...
};

struct ImageIndexOptions {
  std::string root;
  bool train = true;
  std::string list_file;      // non-empty: the list-file form (path relative to root unless absolute)
  std::string val_labels;     // non-empty: this LOC_val_solution.csv or ground-truth file (else searched)
  std::string devkit_wnids;   // ground-truth form: text file, one wnid per line in devkit id order
};

// The layouts accepted, as one line for error messages.
std::string accepted_layouts();

// Throws std::runtime_error naming the path and the accepted layouts when the root is missing or
// not recognised, and naming file:line for malformed label files.
ImageIndex index_images(const ImageIndexOptions& options);

// Sorted wnid folder names under dir (directories only, hidden ones skipped).
std::vector<std::string> list_class_dirs(const std::string& dir);

// File type by content, not extension.
enum class ImageKind { Jpeg, Png, Other };
ImageKind sniff_image(const uint8_t* data, size_t size);

// Pixel size from the header alone (JPEG SOFn marker, PNG IHDR): false if not found.
bool image_header_size(const uint8_t* data, size_t size, int* width, int* height);

// A JPEG whose entropy-coded data ends in an EOI marker: libjpeg decodes a truncated file without
// an error (grey fill and a warning), so truncation is detected here.
bool jpeg_complete(const uint8_t* data, size_t size);

}  // namespace inq
