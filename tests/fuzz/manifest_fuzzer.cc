// libFuzzer target: any bytes as a manifest file. The loader must never
// crash, hang or leak, and what it accepts must keep the model's invariants.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/text.h"
#include "manifest/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = cf::manifest::load({{"fuzz.yaml", text}});
  for (const auto& d : r.diagnostics.all()) {
    std::string line = cf::format(d);
    if (d.where.file != "fuzz.yaml" || line.empty()) std::abort();
  }
  if (r.diagnostics.has_errors()) return 0;
  const auto& instances = r.fleet.instances;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (!cf::is_dns_label(instances[i].name)) std::abort();
    if (i > 0 && !(instances[i - 1].name < instances[i].name)) std::abort();
    if (instances[i].resources.vcpus < 1 || instances[i].resources.vcpus > 32) std::abort();
  }
  // The canonical form and hash of whatever loaded must be computable.
  if (cf::model::content_hash(r.fleet).size() != 71) std::abort();
  return 0;
}
