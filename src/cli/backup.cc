// clawfleet backup NAME [-o FILE] and clawfleet restore NAME FILE
// (apply/backup.h): under the one-writer lock, so that neither an apply
// nor the agent changes the instance meanwhile. Exit 0 done, 1 not.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "apply/backup.h"
#include "apply/lock.h"
#include "cli/engine.h"
#include "cli/verbs.h"
#include "core/text.h"
#include "core/time.h"

namespace cf::cli {
namespace {

using namespace std::chrono;

std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", double(bytes) / double(1ull << 30)); }
std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", double(bytes) / double(1ull << 20)); }

// NAME-20261207T120000Z.clawfleet-backup
std::string default_archive(const std::string& name, WallClock::time_point now) {
  std::time_t t = WallClock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return name + "-" + stamp + ".clawfleet-backup";
}

// The lock's options, as apply has them.
void add_lock_options(CLI::App& cmd, int& timeout_ms, std::string& path) {
  cmd.add_option("--lock-timeout", timeout_ms, "Milliseconds to wait for an apply or the agent")->capture_default_str();
  cmd.add_option("--lock-file", path, "The lock apply and the agent share")->capture_default_str();
}

// The lock, then the manifests and the host they describe.
struct Locked {
  apply::LockGuard lock;
  model::DesiredState desired;
  std::unique_ptr<apply::HostSession> session;
};
Result<Locked> lock_and_open(const std::string& verb, const ManifestOptions& manifests, int lock_timeout_ms,
                             const std::string& lock_path) {
  auto lock = apply::lock_at(lock_path)->acquire(verb, milliseconds(lock_timeout_ms));
  if (!lock) return lock.error();
  RealFileReader fs;
  auto desired = load_desired(manifests, fs);
  if (!desired) return desired.error();
  auto session = open_host(desired.value().fleet.host);
  if (!session) return session.error();
  return Locked{std::move(lock.value()), std::move(desired.value()), std::move(session.value())};
}

}  // namespace

void add_backup(CLI::App& app, BackupOptions& opts) {
  auto* cmd = app.add_subcommand("backup", "Write one instance's data disk, gateway token and record to an archive");
  add_manifest_options(*cmd, opts.manifests);
  cmd->add_option("name", opts.name, "The instance")->required();
  cmd->add_option("-o,--output", opts.out, "The archive to write (default: NAME-<UTC time>.clawfleet-backup here)");
  add_lock_options(*cmd, opts.lock_timeout_ms, opts.lock_path);
}

void add_restore(CLI::App& app, RestoreOptions& opts) {
  auto* cmd = app.add_subcommand(
      "restore", "Bring back an instance's data disk and gateway token from a backup; apply then creates or starts it");
  add_manifest_options(*cmd, opts.manifests);
  cmd->add_option("name", opts.name, "The instance (in a manifest, not on this host)")->required();
  cmd->add_option("archive", opts.archive, "An archive written by clawfleet backup")->required();
  cmd->add_flag("--replace", opts.replace,
                "The instance is on this host: stop it and replace its data disk and token (what it has is lost)");
  cmd->add_flag("--allow-destroy", opts.allow_destroy, "--replace a protected instance too");
  cmd->add_option("--job-timeout", opts.job_timeout_s, "Seconds the VM's stop job may take")->capture_default_str();
  add_lock_options(*cmd, opts.lock_timeout_ms, opts.lock_path);
}

int run_backup(const BackupOptions& opts) {
  auto open = lock_and_open("backup", opts.manifests, opts.lock_timeout_ms, opts.lock_path);
  if (!open) return fail_verb("backup", open.error().message);
  const auto now = WallClock::now();
  const apply::BackupRequest req{opts.name, opts.out.empty() ? default_archive(opts.name, now) : opts.out, rfc3339(now),
                                 opts.version};
  auto backups = host::real_backups();
  const auto t0 = steady_clock::now();
  auto done = apply::backup_instance(open.value().desired.fleet.host, open.value().session->ports(), *backups, req);
  if (!done) return fail_verb("backup", done.error().message);
  fmt::print("Backed up {} to {} in {:.1f} s: its data disk ({}, {}), gateway token and record.\n", opts.name, req.out,
             duration<double>(steady_clock::now() - t0).count(), gib(done.value().disk_bytes),
             done.value().snapshot ? "a crash-consistent snapshot taken while it ran" : "taken with the guest stopped");
  return 0;
}

int run_restore(const RestoreOptions& opts) {
  auto open = lock_and_open("restore", opts.manifests, opts.lock_timeout_ms, opts.lock_path);
  if (!open) return fail_verb("restore", open.error().message);
  auto backups = host::real_backups();
  const auto t0 = steady_clock::now();
  auto done =
      apply::restore_instance(open.value().desired.fleet, open.value().session->ports(), *backups,
                              {opts.name, opts.archive, opts.replace, opts.allow_destroy, seconds(opts.job_timeout_s)});
  if (!done) return fail_verb("restore", done.error().message);
  const apply::RestoreReport& r = done.value();
  fmt::print(
      "{} {}'s data disk ({}, {} of data) and gateway token in {:.1f} s from a backup of {} taken {} ({}).\n"
      "clawfleet apply (or the agent) {} {} on them.\n",
      r.replaced ? "Replaced" : "Restored", opts.name, gib(r.disk_bytes), mib(r.data_bytes),
      duration<double>(steady_clock::now() - t0).count(), printable(r.from), printable(r.created_at),
      printable(r.consistency), r.replaced ? "starts" : "creates", opts.name);
  return 0;
}

}  // namespace cf::cli
