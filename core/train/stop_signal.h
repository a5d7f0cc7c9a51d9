// Stopping a run cleanly: SIGINT and SIGTERM only set a flag, and the training loop asks a
// StopPolicy at each step whether to stop there (checkpointing its position first).
#pragma once
#include <cstdint>

namespace inq {

class Communicator;

// Stop requests: the handlers only set a flag that the training loop polls.
void install_stop_handlers();  // SIGINT and SIGTERM; a second one, a second or more later, ends the process at once
void request_stop(int signal_number);
int stop_requested();          // the signal number, 0 if none
void clear_stop_request();

// Whether the loop stops at a given step. With several ranks, a signal is acted on only where the
// ranks agree on it (a host all-reduce): at an epoch's or stage's start and every kAgreementSteps
// steps, not every step. --stop-after-steps acts as a SIGINT after that many global steps.
class StopPolicy {
 public:
  static constexpr int64_t kAgreementSteps = 32;

  StopPolicy(Communicator& comm, int64_t stop_after_steps) : comm_(comm), stop_after_steps_(stop_after_steps) {}
  // The signal to stop for, or 0. `agree`: a collective, every rank passes the same value at the same step.
  int signal_at(int64_t global_step, bool agree) const;

 private:
  int largest_over_ranks(int signal_number) const;  // collective

  Communicator& comm_;
  int64_t stop_after_steps_;
};

}  // namespace inq
