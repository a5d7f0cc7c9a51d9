// A timer thread around blocking collectives: when one stays armed longer than the timeout (a
// peer rank died or hangs), it calls the abort action, which ends the job (MPI_Abort,
// ncclCommAbort). Collectives of a healthy run arm and disarm it; nothing else runs on the thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace inq {

class Watchdog {
 public:
  // timeout_s <= 0 disables it. `on_timeout` gets a message naming the operation and the timeout.
  Watchdog(double timeout_s, std::function<void(const std::string&)> on_timeout);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(const char* what);  // `what` must outlive the disarm (string literals)
  void disarm();
  double timeout_s() const { return timeout_s_; }

  // RAII: armed for the lifetime of the guard.
  class Guard {
   public:
    Guard(Watchdog& w, const char* what) : w_(w) { w_.arm(what); }
    ~Guard() { w_.disarm(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    Watchdog& w_;
  };

 private:
  void loop();

  double timeout_s_;
  std::function<void(const std::string&)> on_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  const char* what_ = nullptr;  // armed when non-null
  std::chrono::steady_clock::time_point since_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace inq
