// One manifest document (a parsed YAML node) -> Raw: the fields of an
// Instance, Defaults or Host document, each checked for type, range and
// form. Rules that span documents are assemble.h's.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "core/diagnostic.h"
#include "manifest/raw.h"

namespace cf::manifest {

// Adds the document to raw; file is as shown in diagnostics. Every problem
// is a diagnostic; a bad field is left unset and the rest is still read.
void read_document(const std::string& file, const YAML::Node& root, Diagnostics& diags, Raw& raw);

}  // namespace cf::manifest
