// An environment with no variable set.
#pragma once

#include <optional>
#include <string>

#include "core/env.h"

namespace cf::testing {

class NoEnvironment : public Environment {
 public:
  std::optional<std::string> get(const std::string&) const override { return std::nullopt; }
};

}  // namespace cf::testing
