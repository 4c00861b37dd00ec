// What became of a step, the one word for it: the executor reports it, the
// journal records it, status shows it.
#pragma once

#include <optional>
#include <string>

namespace cf::apply {

enum class Outcome { Ok, Failed, Skipped };
const char* to_string(Outcome o);  // "ok", "failed", "skipped"
std::optional<Outcome> outcome_from(const std::string& s);

}  // namespace cf::apply
