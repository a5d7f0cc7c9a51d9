// The training progress display. On a terminal: one line rewritten in place (epoch, step/steps,
// img/s, loss, lr, ETA) at most a few times per second. Otherwise (logs, cluster jobs): a plain
// line every `log_every` steps, so log files stay short and greppable.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace inq {

std::string format_duration(double seconds);  // "45s", "12m05s", "3h07m"

class Progress {
 public:
  // `out` nullptr: silent. `tty` < 0: detect with isatty on `out`.
  Progress(std::FILE* out, int64_t epochs, int64_t steps_per_epoch, int64_t log_every, int tty = -1);

  // Called at the start of each (possibly resumed) epoch. `label` replaces "epoch E/N" in the
  // lines (INQ: "stage 2/4 (σ=0.75) epoch 1/2"); the ETA still counts every remaining epoch.
  void start_epoch(int64_t epoch, std::string label = "");
  // After step `step` (0-based within the epoch) of `images` images with this mean loss.
  void step(int64_t step, int64_t images, double running_loss, double lr);
  // Ends the live line before other output is printed.
  void end_line();
  // Prints a full line (ending any live line first).
  void print(const std::string& line);

  bool is_tty() const { return tty_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool tty_;
  int64_t epochs_, steps_per_epoch_, log_every_;
  int64_t epoch_ = 0, images_ = 0;
  std::string label_;
  Clock::time_point epoch_start_, last_draw_;
  bool line_open_ = false;
  double ema_rate_ = 0.0;  // images per second, smoothed for a steady ETA
  Clock::time_point last_step_;
};

}  // namespace inq
