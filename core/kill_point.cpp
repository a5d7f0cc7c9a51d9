#include "core/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace inq {
namespace {

struct Target {
  bool armed = false;
  std::string name;
  long nth = 1;
  std::atomic<long> seen{0};
};

// Parsed once; a malformed INQ_KILL_AT is a test bug, reported and then ignored (never a kill).
Target& target() {
  static Target t;
  static std::once_flag once;
  std::call_once(once, [] {
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
  });
  return t;
}

}  // namespace

void kill_point(const char* name) {
  Target& t = target();
  if (!t.armed || t.name != name) return;
  if (t.seen.fetch_add(1) + 1 != t.nth) return;
  std::fprintf(stderr, "kill_point: SIGKILL at %s:%ld\n", name, t.nth);
  ::kill(::getpid(), SIGKILL);
  ::pause();  // SIGKILL is delivered before kill() returns to a single-threaded caller; never past here
}

}  // namespace inq
