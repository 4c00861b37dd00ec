// The real adapters of the agent's ports (ports.h).
#pragma once

#include <memory>
#include <string>

#include "agent/clock.h"
#include "agent/ports.h"
#include "apply/executor.h"

namespace cf::agent {

// Whether a name in the manifest directory is an editor's or a tool's
// temporary file, whose changes do not count: dotfiles (".x.yaml.swp",
// ".#x.yaml"), "#x#", "x~", "*.swp", "*.swx", "*.tmp", and vim's "4913".
bool ignored_name(const std::string& name);

// inotify on `dir` (create, close-write, moved-to, delete, moved-from, and
// the directory itself deleted or moved) and on its parent (the directory
// replaced: a git checkout, a symlink swap; the watch is re-established),
// plus signalfd for SIGHUP, SIGTERM and SIGINT, which it blocks for the
// whole process: create it before any thread starts. An eventfd makes
// interrupt() work.
Result<std::unique_ptr<EventSource>> watch_manifests(const std::vector<std::string>& dirs);
// What to watch for `--manifests DIR` or `-f FILE…`: the directory, or the
// directory of each file (".": the working directory), each once. A file is
// watched through its directory, because editors and git replace it by a
// rename, which a watch on the file itself never sees.
std::vector<std::string> manifest_directories(const std::string& dir, const std::vector<std::string>& files);

// sd_notify(0, ...); the watchdog from sd_watchdog_enabled().
std::unique_ptr<Notifier> systemd_notifier();

std::unique_ptr<FileWriter> real_file_writer();

// The journal (spdlog's journald sink; sd_journal_send for the INSTANCE=,
// STEP=, ACTION= fields) when stderr is connected to it ($JOURNAL_STREAM),
// else stderr with the fields in brackets.
std::unique_ptr<Log> journal_or_stderr_log(bool debug);

}  // namespace cf::agent
