// Reading the secrets that manifests reference. Separate from loading: a
// manifest is valid whether or not its secrets exist on this machine; a
// missing secret is reported when a plan needs it.
#pragma once

#include <functional>
#include <string>

#include "core/env.h"
#include "core/fs.h"
#include "core/result.h"
#include "manifest/loader.h"
#include "model/desired.h"

namespace cf::manifest {

inline constexpr std::size_t kMaxSecretBytes = 64 * 1024;

// The secret's value: a file's content or a credential with one trailing
// newline removed, or a variable's value. Errors name the reference, never
// the value: "secret file /etc/clawfleet/secrets/a.telegram: No such file
// or directory".
Result<std::string> read_secret(const model::SecretRef& ref, FileReader& fs, const Environment& env);

// read_secret through the real file system and environment, for the
// guest's seed (host::SecretReader); callable from any thread.
std::function<Result<std::string>(const model::SecretRef&)> real_secret_reader();

// What plans, status and logs show instead of a secret: "sha256:" and the
// first 12 hex digits of its SHA-256, enough to see that it changed.
std::string secret_digest(const std::string& value);

// Reads every secret the loaded fleet references (each once) and adds an
// error diagnostic, at the instance's name, for each one that cannot be used
// and for each bot token another instance's has the content of
// (check_unique_bot_tokens).
void check_secrets(LoadResult& loaded, FileReader& fs, const Environment& env);

// "file /etc/x", "env OPENAI_API_KEY", "credential anthropic-api-key"
std::string describe(const model::SecretRef& ref);

}  // namespace cf::manifest
