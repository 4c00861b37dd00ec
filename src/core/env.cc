#include "core/env.h"

#include <cstdlib>

namespace cf {

std::optional<std::string> RealEnvironment::get(const std::string& name) const {
  // secure_getenv: never take secrets from the environment of a setuid caller.
  const char* v = ::secure_getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

}  // namespace cf
