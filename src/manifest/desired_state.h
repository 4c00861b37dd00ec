// The one loader of the desired state for every verb and the agent: the
// manifests (every diagnostic of every file) and the digests of the secrets
// they reference. Secrets are read only when the manifests have no errors;
// their values never leave this file's functions, only their digests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/diagnostic.h"
#include "core/env.h"
#include "core/fs.h"
#include "manifest/loader.h"
#include "model/desired.h"

namespace cf::manifest {

// Reads every secret `fleet` references (each once), keeping only its
// digest. One that cannot be read is left out and described in `problems`
// ("instance bot: secret file /x: No such file or directory"), once per
// instance that references it.
struct Digests {
  std::map<model::SecretRef, std::string> digests;
  std::vector<std::string> problems;
};
Digests read_digests(const model::Fleet& fleet, FileReader& fs, const Environment& env);

struct LoadedDesired {
  model::DesiredState state;  // the fleet is whole only without error diagnostics
  Diagnostics diagnostics;
  std::vector<std::string> secret_problems;  // read_digests' problems
  // The manifests loaded and every secret could be read: nothing about the
  // desired state is unknown.
  bool complete() const { return !diagnostics.has_errors() && secret_problems.empty(); }
};
// Two instances whose bot tokens have one digest are an error diagnostic
// (check_unique_bot_tokens), and so is a CA certificate file that cannot be
// read or holds anything but certificates (read_ca_digests): the desired
// state is not used then.
LoadedDesired load_desired(FileReader& fs, const Environment& env, const SourceSpec& spec);

}  // namespace cf::manifest
