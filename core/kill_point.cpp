#include "core/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace inq {
namespace {

struct Target {
  pid_t pid = -1;  // the process that parsed INQ_KILL_AT: a forked child parses it anew
  bool armed = false;
  std::string name;
  long nth = 1;
  long seen = 0;
};

// Parses INQ_KILL_AT; a malformed value is a test bug, reported and then ignored (never a kill).
void parse(Target& t) {
  t = Target{};
  t.pid = ::getpid();
  const char* v = std::getenv("INQ_KILL_AT");
  if (!v || !*v) return;
  std::string s(v);
  const size_t colon = s.rfind(':');
  long nth = 1;
  if (colon != std::string::npos) {
    char* end = nullptr;
    nth = std::strtol(s.c_str() + colon + 1, &end, 10);
    if (end == s.c_str() + colon + 1 || *end != '\0' || nth < 1) {
      std::fprintf(stderr, "INQ_KILL_AT=%s: expected NAME or NAME:N with N >= 1; ignored\n", v);
      return;
    }
    s.resize(colon);
  }
  t.name = s;
  t.nth = nth;
  t.armed = true;
}

}  // namespace

// Called a few times per training step at most, so a mutex and a getpid() cost nothing measurable.
void kill_point(const char* name) {
  static std::mutex mu;
  static Target t;
  std::lock_guard<std::mutex> lk(mu);
  if (t.pid != ::getpid()) parse(t);
  if (!t.armed || t.name != name || ++t.seen != t.nth) return;
  std::fprintf(stderr, "kill_point: SIGKILL at %s:%ld\n", name, t.nth);
  ::kill(::getpid(), SIGKILL);
  ::pause();  // not reached: SIGKILL to oneself is delivered before kill() returns
}

}  // namespace inq
