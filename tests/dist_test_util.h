// Helpers shared by the tests that run inq_train, or the test program itself, under `mpirun` on
// the CPU (MPI backend): the binaries, the mpirun prefix (root allowed, one OpenMP thread per rank,
// a hard time limit), a two-rank launch of the running test program, and a small resnet8 config on
// synthetic data.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/test_util.h"

namespace inq::test {

inline const std::string kBin = std::string(INQ_BINARY_DIR) + "/bin/";
inline const std::string kMpirun =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 timeout 600 mpirun --oversubscribe ";

inline bool have_mpirun() { return run_shell("command -v mpirun >/dev/null 2>&1") == 0; }

// Runs this test program again as 2 ranks (5 minutes at most), only the tests `filter`, with the
// environment variable `dir_var` naming `dir` for what the ranks write. Returns what they printed;
// *code gets the exit code.
inline std::string run_self_on_two_ranks(const std::string& filter, const std::string& dir_var,
                                         const std::filesystem::path& dir, int* code) {
  const std::string cmd = dir_var + "=" + dir.string() +
                          " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
                          "timeout 300 mpirun -np 2 --oversubscribe /proc/" +
                          std::to_string(getpid()) + "/exe --gtest_filter=" + filter + " 2>&1";
  return run_command(cmd, code);
}

// Writes `path`: resnet8 on 256 synthetic images (64 for test), one thread and one loader worker
// per rank, lr 0.05, seed `seed`; `extra` is appended inside the top-level object (", \"key\": ...").
inline std::filesystem::path write_resnet8_config(const std::filesystem::path& path, int seed, const std::string& extra) {
  std::ofstream(path) << R"({"device": "cpu", "threads": 1, "seed": )" << seed << R"(,
    "model": {"name": "resnet8", "num_classes": 10, "in_channels": 1, "image_size": 28},
    "data": {"dataset": "synthetic", "workers": 1, "synthetic": {"size": 256, "test_size": 64}},
    "optimizer": {"lr": 0.05})"
                      << extra << "}\n";
  return path;
}

}  // namespace inq::test
