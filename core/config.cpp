#include "core/config.h"

#include <algorithm>
#include <limits>
#include <set>

#include "core/io/atomic_file.h"

namespace inq {
namespace {

using nlohmann::json;

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (parts.back().empty()) throw ConfigError("config key '" + path + "': empty component in dotted path");
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& parts, size_t n, const std::string& sep = ".") {
  std::string out;
  for (size_t i = 0; i < n && i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// A value as the user wrote it, shortened so a big object does not flood the message.
std::string show(const json& j) {
  std::string s = j.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One step down: objects by key, arrays by decimal index. Null when absent. *blocked is set
// when `node` is a value that cannot have children (a scalar, or an array with a non-index key).
const json* child(const json& node, const std::string& key, bool* blocked) {
  *blocked = false;
  if (node.is_object()) {
    auto it = node.find(key);
    return it == node.end() ? nullptr : &*it;
  }
  if (node.is_array() && is_index(key)) {
    const size_t i = std::stoul(key);
    return i < node.size() ? &node[i] : nullptr;
  }
  *blocked = true;
  return nullptr;
}

// Finds `path`; null when absent. A present non-container on the way is an error when
// `strict`, else counts as absent.
const json* find(const json& root, const std::string& path, const std::string& source, bool strict) {
  const std::vector<std::string> parts = split_path(path);
  const json* node = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (node->is_null() && i == 0) return nullptr;  // default-constructed Config
    bool blocked = false;
    const json* next = child(*node, parts[i], &blocked);
    if (blocked) {
      if (!strict) return nullptr;
      throw ConfigError(join(parts, i) + ": expected an object (reading " + path + "), got " + show(*node) + " (in " +
                        source + ")");
    }
    if (!next) return nullptr;
    node = next;
  }
  return node;
}

// Returns the slot for `path`, creating missing objects on the way; `what` names the operation.
json& make_slot(json& root, const std::string& path, const std::string& what) {
  const std::vector<std::string> parts = split_path(path);
  if (root.is_null()) root = json::object();
  json* node = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (node->is_null()) *node = json::object();
    if (node->is_array() && is_index(parts[i])) {
      const size_t idx = std::stoul(parts[i]);
      if (idx >= node->size())
        throw ConfigError(what + ": index " + parts[i] + " is past the end of " + join(parts, i) + " (" +
                          std::to_string(node->size()) + " elements)");
      node = &(*node)[idx];
      continue;
    }
    if (!node->is_object())
      throw ConfigError(what + ": " + (i ? join(parts, i) : std::string("the top level")) +
                        " is not an object (it is " + show(*node) + ")");
    node = &(*node)[parts[i]];
  }
  return *node;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

bool starts_with_path(const std::string& s, const std::string& prefix) {
  return s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0 && s[prefix.size()] == '.';
}

// True when `path` or one of its ancestors was read (a read marks the whole subtree).
bool covered(const std::vector<std::string>& used, const std::string& path) {
  for (const std::string& u : used)
    if (u == path || starts_with_path(path, u)) return true;
  return false;
}

bool has_used_inside(const std::vector<std::string>& used, const std::string& path) {
  for (const std::string& u : used)
    if (starts_with_path(u, path)) return true;
  return false;
}

// Leaves nobody read. Arrays are leaves unless something inside them was read by index.
void collect_unused(const json& node, const std::string& path, const std::vector<std::string>& used,
                    std::vector<std::string>* out) {
  if (!path.empty() && covered(used, path)) return;
  const auto sub = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  if (node.is_object() && !node.empty()) {
    for (const auto& [k, v] : node.items()) collect_unused(v, sub(k), used, out);
  } else if (node.is_array() && !node.empty() && has_used_inside(used, path)) {
    for (size_t i = 0; i < node.size(); ++i) collect_unused(node[i], sub(std::to_string(i)), used, out);
  } else if (!path.empty() && !has_used_inside(used, path)) {
    out->push_back(path);
  }
}

// For an unknown key, the closest key that was read at the level where the two part ways.
std::string suggest(const std::string& unknown, const std::vector<std::string>& used) {
  const std::vector<std::string> parts = split_path(unknown);
  size_t level = 0;  // first component whose prefix nobody read
  while (level < parts.size()) {
    const std::string prefix = join(parts, level + 1);
    if (!covered(used, prefix) && !has_used_inside(used, prefix)) break;
    ++level;
  }
  if (level == parts.size()) return "";
  std::string best;
  size_t best_d = 3;
  for (const std::string& u : used) {
    const std::vector<std::string> up = split_path(u);
    if (up.size() <= level || join(up, level) != join(parts, level) || up[level] == parts[level]) continue;
    const size_t d = edit_distance(up[level], parts[level]);
    if (d < best_d && d < up[level].size()) {
      best_d = d;
      best = up[level];
    }
  }
  if (best.empty()) return "";
  std::vector<std::string> fixed = parts;
  fixed[level] = best;
  return join(fixed, fixed.size());
}

// Rejects duplicate keys, which nlohmann would otherwise resolve silently (last one wins).
struct DuplicateKeyCheck {
  std::string source;
  std::vector<std::pair<std::set<std::string>, std::string>> frames;  // keys seen, current key

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        frames.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames.empty()) frames.pop_back();
        break;
      case json::parse_event_t::key: {
        auto& frame = frames.back();
        frame.second = parsed.get<std::string>();
        if (!frame.first.insert(frame.second).second) {
          std::string path;
          for (const auto& f : frames)
            if (!f.second.empty()) path += (path.empty() ? "" : ".") + f.second;
          throw ConfigError(source + ": duplicate key " + path);
        }
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  }
};

}  // namespace

Config::Config(nlohmann::json root, std::string source) : root_(std::move(root)), source_(std::move(source)) {
  if (root_.is_null()) root_ = json::object();
  if (!root_.is_object())
    throw ConfigError(source_ + ": the top level of a config must be a JSON object, got " + root_.type_name());
}

Config Config::load(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError(std::string("config file ") + e.what());
  }
  json root;
  try {
    root = json::parse(text, DuplicateKeyCheck{path, {}});
  } catch (const json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line L, column C: ..."
    const size_t tag_end = what.find("] ");
    if (tag_end != std::string::npos) what = what.substr(tag_end + 2);
    throw ConfigError(path + ": invalid JSON: " + what);
  }
  return Config(std::move(root), path);
}

void Config::apply_override(const std::string& assignment) {
  const std::string syntax = "bad override '" + assignment + "': expected KEY=VALUE with a dotted key, e.g. train.lr=0.1";
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) throw ConfigError(syntax);
  std::string key = assignment.substr(0, eq);
  key.erase(0, key.find_first_not_of(" \t"));
  key.erase(key.find_last_not_of(" \t") + 1);
  if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos)
    throw ConfigError(syntax);
  const std::string text = assignment.substr(eq + 1);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // not JSON: a bare string such as device=cpu
  make_slot(root_, key, "override '" + assignment + "'") = std::move(value);
}

bool Config::has(const std::string& path) const { return find(root_, path, source_, false) != nullptr; }

// ---- typed reads: each checks the JSON type and names path, expectation and value found

namespace {

[[noreturn]] void type_error(const std::string& path, const std::string& expected, const json& found,
                             const std::string& source) {
  throw ConfigError(path + ": expected " + expected + ", got " + show(found) + " (in " + source + ")");
}

std::string as_string(const json& j, const std::string& path, const std::string& src) {
  if (!j.is_string()) type_error(path, "a string", j, src);
  return j.get<std::string>();
}

int64_t as_int(const json& j, const std::string& path, const std::string& src) {
  if (!j.is_number_integer()) type_error(path, "an integer", j, src);
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    type_error(path, "an integer that fits in 64 bits", j, src);
  return j.get<int64_t>();
}

double as_double(const json& j, const std::string& path, const std::string& src) {
  if (!j.is_number()) type_error(path, "a number", j, src);
  return j.get<double>();
}

bool as_bool(const json& j, const std::string& path, const std::string& src) {
  if (!j.is_boolean()) type_error(path, "a boolean (true or false)", j, src);
  return j.get<bool>();
}

template <typename T, typename Fn>
std::vector<T> as_list(const json& j, const std::string& path, const std::string& src, const char* what, Fn elem) {
  if (!j.is_array()) type_error(path, what, j, src);
  std::vector<T> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(elem(j[i], path + "[" + std::to_string(i) + "]", src));
  return out;
}

}  // namespace

namespace {

void mark_used(std::vector<std::string>& used, const std::string& path) {
  if (std::find(used.begin(), used.end(), path) == used.end()) used.push_back(path);
}

template <typename Conv>
auto read_required(const json& root, std::vector<std::string>& used, const std::string& path,
                   const std::string& src, Conv conv) {
  const json* j = find(root, path, src, true);
  if (!j) throw ConfigError(path + ": required key is missing (in " + src + ")");
  auto v = conv(*j, path, src);
  mark_used(used, path);
  return v;
}

// An absent key takes `def`, written into the tree so resolved() shows it.
template <typename T, typename Conv>
T read_or_default(json& root, std::vector<std::string>& used, const std::string& path, const std::string& src,
                  const T& def, Conv conv) {
  if (!find(root, path, src, true)) make_slot(root, path, "default for " + path + " (in " + src + ")") = def;
  return read_required(root, used, path, src, conv);
}

std::vector<double> as_double_list(const json& j, const std::string& path, const std::string& src) {
  return as_list<double>(j, path, src, "a list of numbers", as_double);
}

std::vector<int64_t> as_int_list(const json& j, const std::string& path, const std::string& src) {
  return as_list<int64_t>(j, path, src, "a list of integers", as_int);
}

}  // namespace

std::string Config::get_string(const std::string& path) const {
  return read_required(root_, used_, path, source_, as_string);
}
std::string Config::get_string(const std::string& path, const std::string& def) {
  return read_or_default(root_, used_, path, source_, def, as_string);
}
int64_t Config::get_int(const std::string& path) const { return read_required(root_, used_, path, source_, as_int); }
int64_t Config::get_int(const std::string& path, int64_t def) {
  return read_or_default(root_, used_, path, source_, def, as_int);
}
double Config::get_double(const std::string& path) const {
  return read_required(root_, used_, path, source_, as_double);
}
double Config::get_double(const std::string& path, double def) {
  return read_or_default(root_, used_, path, source_, def, as_double);
}
bool Config::get_bool(const std::string& path) const { return read_required(root_, used_, path, source_, as_bool); }
bool Config::get_bool(const std::string& path, bool def) {
  return read_or_default(root_, used_, path, source_, def, as_bool);
}
std::vector<double> Config::get_double_list(const std::string& path) const {
  return read_required(root_, used_, path, source_, as_double_list);
}
std::vector<double> Config::get_double_list(const std::string& path, const std::vector<double>& def) {
  return read_or_default(root_, used_, path, source_, def, as_double_list);
}
std::vector<int64_t> Config::get_int_list(const std::string& path, const std::vector<int64_t>& def) {
  return read_or_default(root_, used_, path, source_, def, as_int_list);
}

std::string Config::get_choice(const std::string& path, const std::string& def,
                               const std::vector<std::string>& choices) {
  const std::string v = get_string(path, def);
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + json(c).dump();
  throw ConfigError(path + ": expected one of " + list + ", got " + json(v).dump() + " (in " + source_ + ")");
}

const nlohmann::json& Config::get_json(const std::string& path) const {
  const json* j = find(root_, path, source_, true);
  if (!j) throw ConfigError(path + ": required key is missing (in " + source_ + ")");
  mark_used(used_, path);
  return *j;
}

void Config::check_unused() const {
  std::vector<std::string> unused;
  collect_unused(root_, "", used_, &unused);
  if (unused.empty()) return;
  std::string msg = "unknown key(s) in " + source_ + ": ";
  for (size_t i = 0; i < unused.size(); ++i) {
    msg += (i ? ", " : "") + unused[i];
    const std::string hint = suggest(unused[i], used_);
    if (!hint.empty()) msg += " (did you mean " + hint + "?)";
  }
  throw ConfigError(msg);
}

}  // namespace inq
