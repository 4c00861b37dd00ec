// Process environment behind an interface, so code that reads secrets from
// variables and systemd credentials is testable with a fake.
#pragma once

#include <optional>
#include <string>

namespace cf {

class Environment {
 public:
  virtual ~Environment() = default;
  virtual std::optional<std::string> get(const std::string& name) const = 0;
};

class RealEnvironment : public Environment {
 public:
  std::optional<std::string> get(const std::string& name) const override;
};

}  // namespace cf
