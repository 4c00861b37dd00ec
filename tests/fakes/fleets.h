// Small fleets for tests, written as manifests and loaded by the real loader.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "manifest/loader.h"

namespace cf::testing {

// A qemu host on 10.80.0.0/24, bridge cfbr0, the default state root.
inline const char* const kTestHost = R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: cfbr0
  subnet: 10.80.0.0/24
  stateRoot: /var/lib/clawfleet
  vmm: {kind: qemu}
)";

// One Instance document; `extra` is appended to its spec (indented two spaces).
inline std::string instance_yaml(const std::string& name, const std::string& extra = "") {
  return "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + name +
         "}\nspec:\n  model: ollama/qwen3\n" + extra;
}

// kTestHost and the given instance documents, loaded; a diagnostic fails the test.
inline model::Fleet fleet_of(const std::string& instances) {
  auto r = manifest::load({{"m.yaml", std::string(kTestHost) + instances}});
  EXPECT_FALSE(r.diagnostics.has_errors()) << (r.diagnostics.all().empty() ? "" : format(r.diagnostics.all()[0]));
  return r.fleet;
}

}  // namespace cf::testing
