#include "core/rng.h"

#include <sstream>
#include <stdexcept>

namespace inq {

std::string Rng::state() const {
  std::ostringstream os;
  os << engine_;
  return os.str();
}

void Rng::set_state(const std::string& s) {
  std::istringstream is(s);
  std::mt19937_64 e;
  is >> e;
  if (is.fail()) throw std::invalid_argument("malformed random generator state");
  engine_ = e;
}

}  // namespace inq
