// Manifest text -> YAML documents (yaml-cpp), with the per-file document
// limit and the guard against yaml-cpp 0.7's endless LoadAll
// (docs/ARCHITECTURE.md, "Third-party defects worked around").
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <vector>

#include "core/diagnostic.h"
#include "manifest/loader.h"

namespace cf::manifest {

// Parses a file into its documents, or reports why not.
std::optional<std::vector<YAML::Node>> parse_documents(const SourceFile& f, Diagnostics& diags);

}  // namespace cf::manifest
