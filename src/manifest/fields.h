// The forms of the names that manifest fields hold: label keys and values,
// providers, models, skills, environment variables, credentials. Form only;
// what a name refers to is checked elsewhere.
#pragma once

#include <cstddef>
#include <string_view>

namespace cf::manifest {

// 1-max characters of a-z, 0-9 (and A-Z when allow_upper) and `extra`,
// starting and ending with a letter or digit: label keys and values.
bool is_name(std::string_view s, std::size_t max, bool allow_upper, std::string_view extra);
// 1-32 characters of a-z, 0-9 and '-', starting with a letter or digit.
bool is_provider(std::string_view s);
// provider/model (e.g. anthropic/claude-opus-4-6), at most 128 characters.
bool is_model(std::string_view s);
// 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit.
bool is_skill(std::string_view s);
// [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes.
bool is_env_name(std::string_view s);
// A-Z, a-z, 0-9, '_', '.' and '-', at most 255 bytes, not . or ..
bool is_credential_name(std::string_view s);

}  // namespace cf::manifest
