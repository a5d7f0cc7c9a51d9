#include <cstdio>
#include <cstdlib>

#include "core/comm/communicator.h"

namespace inq {

void LocalCommunicator::abort(const std::string& why, int exit_code) {
  std::fprintf(stderr, "inq: aborting: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(exit_code);
}

}  // namespace inq
