// data.workers = 0: the loader's default thread count is this rank's share of the cores it was given.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "data/loader.h"

namespace {

int workers(int allowed, int hardware, const std::map<std::string, std::string>& vars) {
  return inq::default_loader_workers(allowed, hardware, [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(LoaderWorkers, OneProcessGetsEveryCoreItMayUse) {
  EXPECT_EQ(workers(64, 64, {}), 64);
  EXPECT_EQ(workers(6, 64, {}), 6);  // taskset / cgroup: the affinity mask counts, not the machine
}

TEST(LoaderWorkers, SlurmCpusPerTaskIsTheRanksShare) {
  // srun --ntasks-per-node=8 --cpus-per-task=8 on a 128-core node.
  EXPECT_EQ(workers(128, 128, {{"SLURM_CPUS_PER_TASK", "8"}, {"SLURM_NTASKS_PER_NODE", "8"}}), 8);
  EXPECT_EQ(workers(8, 128, {{"SLURM_CPUS_PER_TASK", "8"}}), 8);
  EXPECT_EQ(workers(4, 128, {{"SLURM_CPUS_PER_TASK", "8"}}), 4);  // never more than the mask allows
}

TEST(LoaderWorkers, UnboundRanksSplitTheNode) {
  // mpirun -np 8 --bind-to none on a 64-core node: every rank sees all cores.
  EXPECT_EQ(workers(64, 64, {{"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}}), 8);
  EXPECT_EQ(workers(64, 64, {{"MPI_LOCALNRANKS", "4"}}), 16);
  EXPECT_EQ(workers(64, 64, {{"SLURM_NTASKS_PER_NODE", "2"}}), 32);
  EXPECT_EQ(workers(2, 2, {{"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}}), 1);  // oversubscribed: at least one
}

TEST(LoaderWorkers, BoundRanksKeepTheirMask) {
  EXPECT_EQ(workers(8, 64, {{"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}}), 8);
}

TEST(LoaderWorkers, MalformedValuesAreIgnored) {
  EXPECT_EQ(workers(16, 16, {{"SLURM_CPUS_PER_TASK", ""}, {"SLURM_NTASKS_PER_NODE", "8(x2)"}}), 16);
  EXPECT_EQ(workers(16, 16, {{"SLURM_CPUS_PER_TASK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "-2"}}), 16);
}

TEST(LoaderWorkers, TheProcessDefaultIsPositive) { EXPECT_GE(inq::default_loader_workers(), 1); }

}  // namespace
