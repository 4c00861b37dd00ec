// clawfleet status: the fleet as it is, from observing the host and reading
// the apply journal: per instance its state, health, generation applied vs
// desired, address, last error, and what each running gateway says of its
// channels. Read-only: takes no lock, writes nothing; it reads each
// gateway's token only to send it to that gateway's own proxy (/readyz).
// Exit 0: every instance ready (or stopped as asked); 3: any is not; 1:
// could not run (docs/cli.md#status).
#include <fmt/core.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "agent/status_file.h"
#include "apply/journal.h"
#include "apply/lock.h"
#include "cli/engine.h"
#include "cli/status_model.h"
#include "cli/status_render.h"
#include "cli/verbs.h"
#include "core/env.h"
#include "core/text.h"
#include "host/observe.h"
#include "manifest/desired_state.h"

namespace cf::cli {
namespace {

// Per gateway; they are asked a few at a time.
constexpr std::chrono::milliseconds kReadinessTimeout{5000};

int status_failed(const std::string& message) { return fail_verb("status", message); }

void warn(const std::string& message) { fmt::print(stderr, "clawfleet status: warning: {}\n", message); }

// Whoever holds the one-writer lock now, if anyone. Release clears the
// record; a record left by a killed writer names a pid that is gone.
std::optional<apply::LockHolder> lock_holder(FileReader& fs, const std::string& path) {
  auto text = fs.read_file(path, 4096);
  if (!text) return std::nullopt;
  auto holder = apply::parse_lock_record(text.value());
  if (!holder || holder->pid <= 0) return std::nullopt;
  if (::kill(static_cast<pid_t>(holder->pid), 0) != 0 && errno != EPERM) return std::nullopt;
  return holder;
}

}  // namespace

void add_status(CLI::App& app, StatusOptions& opts) {
  auto* cmd = app.add_subcommand("status", "Show each instance's state, health, generation, address and last error");
  add_manifest_options(*cmd, opts.manifests);
  cmd->add_option("name", opts.name, "Show everything known about this one instance");
  cmd->add_option("-o,--output", opts.output, "Output format: text or json (docs/cli.md#status)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_flag("--json", opts.json, "The same as -o json");
  cmd->add_option("--lock-file", opts.lock_path,
                  "The lock apply and the agent hold: tells a step running now from an interrupted one")
      ->capture_default_str();
}

int run_status(const StatusOptions& opts) {
  // Pass 1: the manifests and the digests of their secrets (never their
  // values). Status is most wanted when things are broken, so manifests
  // with errors only lose the desired side: the host is still shown; a
  // secret that cannot be read makes that instance's generation "?".
  RealFileReader fs;
  manifest::LoadedDesired loaded = manifest::load_desired(fs, RealEnvironment(), source_spec(opts.manifests));
  for (const auto& diag : loaded.diagnostics.all()) fmt::print(stderr, "{}\n", printable(format(diag)));
  const bool have_desired = !loaded.diagnostics.has_errors();
  const model::Host& host = loaded.state.fleet.host;
  if (!have_desired)
    warn("the manifests have errors; showing what is on this host only (state root " + host.state_root +
         "), and nothing counts as ready");
  for (const auto& problem : loaded.secret_problems) warn(problem + "; its desired generation shows as ?");

  // Pass 2: observe (read-only) and, with manifests, plan: the plan is what
  // is pending for each instance.
  auto session = open_host(host);
  if (!session) return status_failed(session.error().message);
  model::Observed observed;
  plan::Plan plan;
  if (have_desired) {
    auto planned = apply::plan_once(apply::Target{loaded.state, true, plan::Options{}}, session.value()->ports());
    if (!planned) return status_failed(planned.error().message);
    observed = std::move(planned.value().observed);
    plan = std::move(planned.value().plan);
    // Generations are of the effective Host (the guests' resolvers included).
    loaded.state.fleet.host = planned.value().desired.fleet.host;
  } else {
    auto seen = host::observe(host, session.value()->ports());
    if (!seen) return status_failed("cannot observe the host: " + seen.error().message);
    observed = std::move(seen.value());
  }

  // Pass 3: the journal, for each instance's last steps and error. Without
  // it (unreadable) the host is still worth showing; absent is empty.
  std::vector<apply::JournalRecord> journal;
  auto read = apply::read_journal(host.state_root + "/" + apply::kJournalFile, SIZE_MAX);
  if (read)
    journal = std::move(read.value().records);
  else
    warn("cannot read the journal: " + read.error().message + "; last steps and errors are not shown");
  // An apply running now has open steps that are not interrupted.
  const std::string running = active_run(journal, lock_holder(fs, opts.lock_path));

  // Pass 4: each running gateway's deep readiness (shown, never judged).
  model::Observed asked = observed;
  if (!opts.name.empty()) std::erase_if(asked.instances, [&](const auto& kv) { return kv.first != opts.name; });
  const auto readiness = host::observe_readiness(asked, session.value()->ports(), kReadinessTimeout);

  // Pass 5: build and render; the exit code says whether all is settled.
  FleetStatus status =
      build_status(have_desired ? &loaded.state : nullptr, observed, plan, journal, running, readiness);
  if (!opts.name.empty()) {
    std::erase_if(status.instances, [&](const InstanceStatus& i) { return i.name != opts.name; });
    if (status.instances.empty())
      return status_failed("no instance \"" + opts.name + "\" in the manifests or on this host");
  }
  // Pass 6: the agent's own view, when it runs here (its status file):
  // conditions, backoff, and a manifest error it is holding out against.
  const std::string agent_file = host.state_root + "/agent-status.json";
  std::optional<agent::AgentStatus> agent_status;
  std::string agent_text;
  if (auto text = fs.read_file(agent_file, 16u << 20)) {
    auto parsed = agent::parse_status_file(text.value());
    if (parsed)
      agent_status = parsed.value(), agent_text = text.value();
    else
      warn(agent_file + ": " + parsed.error().message);
  }
  if (agent_status && !opts.name.empty()) {
    std::erase_if(agent_status->instances, [&](const auto& kv) { return kv.first != opts.name; });
  }
  if (opts.json || opts.output == "json") {
    std::string out = render_status_json(status);
    if (agent_status) {
      // Added as the file says it, under "agent".
      auto doc = nlohmann::ordered_json::parse(out);
      doc["agent"] = nlohmann::ordered_json::parse(agent_text);
      out = doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    }
    fmt::print("{}", out);
  } else {
    fmt::print("{}", opts.name.empty() ? render_status_table(status) : render_status_detail(status));
    if (agent_status) {
      const bool alive = agent_status->pid > 0 && (::kill(pid_t(agent_status->pid), 0) == 0 || errno == EPERM);
      fmt::print("{}", agent::render_agent_text(*agent_status, alive, std::chrono::system_clock::now()));
    }
  }
  return status_exit_code(status);
}

}  // namespace cf::cli
