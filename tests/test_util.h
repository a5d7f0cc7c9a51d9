// Small helpers shared by the test files: shell commands, Python probes, temporary directories, files,
// random inputs.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace inq::test {

// What `f` throws (any std::exception's message), or "no error".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// The exit code in a wait status from std::system or pclose; 1000 + the signal that ended it; -1: never ran.
inline int exit_code(int status) {
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

// Runs `cmd` with /bin/sh and returns its exit code (as exit_code gives it).
inline int run_shell(const std::string& cmd) { return exit_code(std::system(cmd.c_str())); }

// Runs `cmd` with /bin/sh and returns what it wrote to stdout; *code gets its exit code.
inline std::string run_command(const std::string& cmd, int* code) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    *code = -1;
    return out;
  }
  char buf[4096];
  for (size_t got; (got = std::fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, got);
  *code = exit_code(pclose(f));
  return out;
}

// Whether /usr/bin/python3 can import `module` ("torch", "numpy", ...).
inline bool python_can_import(const std::string& module) {
  return run_shell("/usr/bin/python3 -c 'import " + module + "' >/dev/null 2>&1") == 0;
}

// A Python list literal of `v`, with the digits that round-trip each value exactly (9 for float, 17 for double).
template <typename T>
std::string py_list(const std::vector<T>& v) {
  std::ostringstream s;
  s.precision(std::numeric_limits<T>::max_digits10);
  s << '[';
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << ']';
  return s.str();
}

// n floats uniform in [lo, hi), drawn with std::mt19937(seed).
inline std::vector<float> uniform_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen);
  return v;
}

// Creates a new empty directory `parent`/`prefix`XXXXXX (unique, even across processes); throws on failure.
inline std::filesystem::path make_temp_dir(const std::string& prefix,
                                           const std::filesystem::path& parent = ::testing::TempDir()) {
  std::filesystem::create_directories(parent);
  std::string tmpl = (parent / (prefix + "XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  return tmpl;
}

// The whole contents of a file, "" when it cannot be read (inq::read_file throws instead).
inline std::string file_contents(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// How a command ended and what it wrote to stdout and stderr (kept apart, through files in `dir`).
struct CommandResult {
  int code = -1;
  std::string out, err;
};
inline CommandResult run_captured(const std::string& cmd, const std::filesystem::path& dir) {
  const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  CommandResult r;
  r.code = run_shell(cmd + " > " + out.string() + " 2> " + err.string());
  r.out = file_contents(out);
  r.err = file_contents(err);
  return r;
}

}  // namespace inq::test
