// Named points where a test can kill the process with SIGKILL, to prove that a kill at the worst
// moment (inside a checkpoint write, at a stage boundary, ...) loses nothing.
//
// INQ_KILL_AT=NAME[:N] in the environment: the N-th time (1-based, default 1) the process passes
// kill_point("NAME"), it sends itself SIGKILL. Unset (the normal case) costs one relaxed load per
// call after the first. Used by scripts/chaos.sh and tests/test_kill_points.cpp; the names in use
// are listed in docs/reliability.md.
#pragma once

namespace inq {

void kill_point(const char* name);

}  // namespace inq
