// What a manifest may name on the host: the rules `validate` checks without
// the host (docs/security.md). Whoever writes a manifest is not root, so a
// manifest must not make clawfleet execute a program, boot a disk or read a
// secret that only root should choose; a pull request that tries fails in
// `validate`. Each function returns the rule a value breaks, or nothing.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.h"
#include "core/fs.h"
#include "model/desired.h"

namespace cf::manifest {

// The directories a VMM binary may lie in (directly): where Debian's
// packages, a local install and Firecracker's documented layout put it.
inline constexpr std::string_view kVmmDirectories[] = {"/usr/bin", "/usr/local/bin", "/usr/libexec",
                                                       "/opt/firecracker"};

// The directories secret roots may lie in: clawfleet's own configuration
// directory, and a tmpfs a secrets manager fills at boot.
inline constexpr std::string_view kSecretRootParents[] = {"/etc/clawfleet", "/run/clawfleet"};
inline constexpr std::string_view kDefaultSecretRoot = "/etc/clawfleet/secrets";

// True when `path` is `dir` or lies below it (both clean absolute paths).
bool is_within(std::string_view path, std::string_view dir);

// spec.vmm.binary: in one of kVmmDirectories, named for its kind
// (firecracker…, qemu-system-…).
std::optional<std::string> vmm_binary_rule(model::VmmKind kind, const std::string& path);
// spec.vmm.jailer: in one of kVmmDirectories, named jailer…
std::optional<std::string> jailer_rule(const std::string& path);

// spec.stateRoot: a directory of clawfleet's own, not a system directory
// (/, /etc, /usr, /tmp, /home, /var/lib itself, ...), where clawfleet
// creates instances/ and reads images/.
std::optional<std::string> state_root_rule(const std::string& path);

// An image file (kernel, initrd, rootfs): under <stateRoot>/images/, the
// image root, and so never inside an instance's directory.
std::optional<std::string> image_rule(const std::string& state_root, const std::string& path);

// A secret root (spec.secretRoots): below one of kSecretRootParents.
std::optional<std::string> secret_root_rule(const std::string& path);

// A {file:} secret reference: below one of `roots`.
std::optional<std::string> secret_file_rule(const std::vector<std::string>& roots, const std::string& path);

// On the host, for a file clawfleet executes, boots or hands to a guest:
// it (after symlinks) is a regular file owned by root and not writable by
// group or others, and so is every directory above it and above the path
// as written, up to /; a secret is also not readable by others. Nothing
// when the file does not exist: whoever uses it says so.
std::optional<std::string> host_file_rule(FileReader& fs, const std::string& path, bool secret);

// On the host, for a file the VMM itself opens (its binary, which it runs;
// a kernel or initrd, which it reads): the VMM runs as a user of its own
// (docs/security.md), so the file must be readable (`execute`: executable)
// by others and every directory above it passable by others, but the
// state root, whose mode clawfleet sets itself (0711, host/state/
// ownership.h). Nothing when the file does not exist.
std::optional<std::string> host_vmm_file_rule(FileReader& fs, const std::string& path, bool execute,
                                              const std::string& state_root);

// On the host, for the state root when it exists: owned by root and not
// writable by group or others, and so is every directory above it (a
// directory another user can change is one they can swap for their own).
std::optional<std::string> host_state_root_rule(FileReader& fs, const std::string& path);

// A host_file_rule message about `path` said of `what` ("secret file /x"):
// "secret file /x is readable by others (...)", or "secret file /x: /real
// is ..." when the rule is about where a symlink leads.
std::string said_of(const std::string& what, const std::string& path, const std::string& rule);

// host_file_rule for the VMM binary and every image file of `host`,
// host_vmm_file_rule for the binary, kernels and initrds, and
// host_state_root_rule for its state root, each
// broken rule an error where the Host names the file (`origins`: path ->
// location; `fallback` for a default).
void check_host_files(const model::Host& host, const std::map<std::string, Location>& origins, const Location& fallback,
                      FileReader& fs, Diagnostics& diags);

}  // namespace cf::manifest
