#include "core/comm/watchdog.h"

#include <sstream>

namespace inq {

Watchdog::Watchdog(double timeout_s, std::function<void(const std::string&)> on_timeout)
    : timeout_s_(timeout_s), on_timeout_(std::move(on_timeout)) {
  if (timeout_s_ > 0) thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::arm(const char* what) {
  if (timeout_s_ <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = what;
    since_ = std::chrono::steady_clock::now();
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  if (timeout_s_ <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  what_ = nullptr;
}

void Watchdog::loop() {
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(timeout_s_));
  std::unique_lock<std::mutex> lock(mu_);
  while (!quit_) {
    if (!what_) {
      cv_.wait(lock, [&] { return quit_ || what_ != nullptr; });
      continue;
    }
    const auto deadline = since_ + timeout;
    const auto armed_at = since_;
    if (cv_.wait_until(lock, deadline, [&] { return quit_ || !what_ || since_ != armed_at; })) continue;
    std::ostringstream os;
    os << "collective '" << what_ << "' did not complete within distributed.timeout_s = " << timeout_s_
       << " s: another rank died, hangs or left the collective sequence";
    const std::string msg = os.str();
    lock.unlock();
    on_timeout_(msg);  // ends the process
    return;
  }
}

}  // namespace inq
