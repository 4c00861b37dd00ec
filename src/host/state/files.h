// Crash-safe file writes: every file clawfleet owns is written as
// temp + fsync + rename + fsync(dir), so a crash leaves the old or the new
// content, never a torn file, and never a stray temp file after a rerun.
#pragma once

#include <sys/types.h>
#include <string>

#include "core/result.h"

namespace cf::host {

// Writes content to path atomically with the given mode (the temp file is
// created with it, so a secret is never briefly world-readable). The
// directory must exist. A file replaced keeps its group (keep_group_of).
Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode);

// Gives the temporary file `tmp` (open as fd) the group of the file it is
// about to replace, `path`, when that exists: a VM that starts while an
// apply rewrites its launch record or seed reads them as its VMM's group
// (model/instance_dir.h), not the root-only group a new file has until
// the instance directory is owned again.
Status keep_group_of(int fd, const std::string& tmp, const std::string& path);

// Removes path; absent is success. Syncs the directory.
Status remove_file(const std::string& path);

// Creates dir (and parents) with mode when missing; an existing directory
// keeps its mode: clawfleet never changes the mode of a directory it did
// not create (the state root may be the operator's).
Status ensure_dir(const std::string& dir, mode_t mode);
// ensure_dir for a directory clawfleet owns (instances/, an instance's, a
// unit's drop-in directory): an existing one gets `mode` back.
Status ensure_own_dir(const std::string& dir, mode_t mode);

// The temp file a writer of `path` uses beside it: ".<name>.cf-tmp.<pid>".
std::string temp_path_for(const std::string& path);

// Removes the leftovers of crashed writers (temp_path_for names) in dir
// (not recursive); with `of`, only those of that one file (a directory
// that others write too, such as the state root with the agent's status).
Status remove_stale_temp_files(const std::string& dir, const std::string& of = "");

}  // namespace cf::host
