#include "core/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace inq {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

Progress::Progress(std::FILE* out, int64_t epochs, int64_t steps_per_epoch, int64_t log_every, int tty)
    : out_(out), epochs_(epochs), steps_per_epoch_(steps_per_epoch), log_every_(log_every > 0 ? log_every : 1) {
  tty_ = out_ && (tty < 0 ? isatty(fileno(out_)) != 0 : tty != 0);
}

void Progress::start_epoch(int64_t epoch, std::string label) {
  epoch_ = epoch;
  label_ = label.empty() ? "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs_) : std::move(label);
  images_ = 0;
  epoch_start_ = last_step_ = Clock::now();
  last_draw_ = Clock::time_point{};
}

void Progress::step(int64_t step, int64_t images, double running_loss, double lr) {
  if (!out_) return;
  const auto now = Clock::now();
  images_ += images;
  const double dt = std::chrono::duration<double>(now - last_step_).count();
  last_step_ = now;
  if (dt > 0) {
    const double rate = static_cast<double>(images) / dt;
    ema_rate_ = ema_rate_ > 0 ? 0.9 * ema_rate_ + 0.1 * rate : rate;
  }
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double avg_rate = elapsed > 0 ? static_cast<double>(images_) / elapsed : 0.0;
  const int64_t done = step + 1;
  const int64_t remaining_steps = (steps_per_epoch_ - done) + (epochs_ - epoch_ - 1) * steps_per_epoch_;
  const double per_step = images > 0 && ema_rate_ > 0 ? static_cast<double>(images) / ema_rate_ : 0.0;
  const std::string eta = format_duration(static_cast<double>(remaining_steps) * per_step);

  const bool last = done == steps_per_epoch_;
  if (tty_) {
    // Redraw at most ~8 times a second: terminals are slow, steps may be fast.
    if (!last && now - last_draw_ < std::chrono::milliseconds(125)) return;
    last_draw_ = now;
    std::fprintf(out_, "\r\033[K%s  step %lld/%lld  %.0f img/s  loss %.4f  lr %.5g  ETA %s", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(steps_per_epoch_), avg_rate, running_loss, lr, eta.c_str());
    line_open_ = true;
  } else {
    if (done % log_every_ != 0 && !last) return;
    std::fprintf(out_, "%s step %lld/%lld %.0f img/s loss %.4f lr %.5g ETA %s\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(steps_per_epoch_), avg_rate, running_loss, lr, eta.c_str());
  }
  std::fflush(out_);
}

void Progress::end_line() {
  if (out_ && line_open_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
  line_open_ = false;
}

void Progress::print(const std::string& line) {
  if (!out_) return;
  end_line();
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace inq
