#include "core/train/stop_signal.h"

#include <csignal>
#include <ctime>

#include "core/comm/communicator.h"

namespace inq {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
timespec g_first_signal_at{};  // written by the handler before it sets g_stop_signal

double seconds_since(const timespec& t) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  return double(now.tv_sec - t.tv_sec) + 1e-9 * double(now.tv_nsec - t.tv_nsec);
}

// A repeat within this time is the same request delivered twice: timeout(1) and some batch
// systems signal both the process and its process group. Later, a second signal means "now".
constexpr double kRepeatSeconds = 1.0;

extern "C" void on_stop_signal(int signal_number) {
  if (g_stop_signal != 0) {
    if (seconds_since(g_first_signal_at) < kRepeatSeconds) return;
    std::signal(signal_number, SIG_DFL);  // a second request: give up on the clean stop
    std::raise(signal_number);
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &g_first_signal_at);
  g_stop_signal = signal_number;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESTART;  // blocking calls elsewhere resume; the loop polls the flag
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}
void request_stop(int signal_number) { g_stop_signal = signal_number; }
int stop_requested() { return g_stop_signal; }
void clear_stop_request() { g_stop_signal = 0; }

int StopPolicy::largest_over_ranks(int signal_number) const {
  if (comm_.world_size() == 1) return signal_number;
  double value = signal_number;
  comm_.host_all_reduce_max(&value, 1);
  return static_cast<int>(value);
}

int StopPolicy::signal_at(int64_t global_step, bool agree) const {
  int signal_number = comm_.world_size() == 1 || agree ? largest_over_ranks(stop_requested()) : 0;
  if (!signal_number && stop_after_steps_ >= 0 && global_step >= stop_after_steps_) signal_number = SIGINT;
  return signal_number;
}

}  // namespace inq
