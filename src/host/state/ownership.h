// Who owns what in an instance's directory (model/instance_dir.h): the
// VMM runs as a user of its own, and this gives it exactly what it needs.
// Root's work (apply, and `vm prepare` before every start of the VMM), so
// a directory made before the VMM had its own user, or an instance whose
// address (and so user) changed, is brought in line before the VMM runs.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace cf::host {

// The state root and instances/ (root's, never writable by others) lose
// nothing but gain the search bit for group and others: each VMM passes
// through to its own directory and can list neither.
inline constexpr unsigned kStateRootMode = 0711;

// <root>/instances/<name>: root's and `uid`'s group's, mode
// kInstanceDirMode; each regular file in it root's, that group's, with
// instance_file_mode(); vm/ and everything directly in it `uid`'s (0700).
// Links are never followed: a link in vm/ (the VMM's to make) is chowned
// itself. The directory must exist.
Status own_instance_dir(const std::string& state_root, const std::string& name, std::uint32_t uid);

}  // namespace cf::host
