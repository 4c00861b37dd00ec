// The agent's reaction latency and idle cost, on a whole fake host
// (tests/fakes/fake_host.h: no systemd, no network, no VMs are touched)
// with the real loop, the real inotify/signalfd event source on a
// temporary manifest directory, the real manifest loader, planner and
// executor:
//
//   1. latency from writing a new manifest file to the first step of the
//      new instance starting, median of 25 runs, with the default debounce
//      (500 ms) and with --debounce 0;
//   2. CPU time and RSS of an idle agent with 100 converged instances over
//      one minute (CLAWFLEET_BENCH_IDLE_SECONDS to change), watchdog pings
//      every 15 s as with WatchdogSec=30s, default resync (5 min).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/agent.h"
#include "agent/real.h"
#include "fakes/fake_agent.h"
#include "fakes/fake_lock.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using namespace cf;

const char* const kHost =
    "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n  subnet: 10.80.0.0/22\n"
    "  stateRoot: /var/lib/clawfleet\n  vmm: {kind: qemu}\n";

std::string instance(const std::string& name) {
  return "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + name + "}\nspec: {model: ollama/qwen3}\n";
}

class NoEnvironment : public Environment {
 public:
  std::optional<std::string> get(const std::string&) const override { return std::nullopt; }
};

// Notes when "NAME: ACTION started" is logged for the instance waited for.
class WatchLog : public agent::Log {
 public:
  void write(agent::Level, const std::string& message, const agent::Fields&) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!waiting_.empty() && message.rfind(waiting_ + ": create started", 0) == 0) {
      seen_ = steady_clock::now();
      cv_.notify_all();
    }
  }
  void expect(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_ = name;
    seen_.reset();
  }
  std::optional<steady_clock::time_point> wait(milliseconds within) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, within, [&] { return seen_.has_value(); });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string waiting_;
  std::optional<steady_clock::time_point> seen_;
};

struct Rig {
  explicit Rig(const std::string& dir) : dir(dir) {}
  std::string dir;
  testing::FakeHost host;
  testing::FakeJournal journal;
  testing::FakeHostOpener opener{host, journal};
  testing::FakeLock lock;
  testing::FakeNotifier notifier;
  testing::FakeFileWriter writer;
  WatchLog log;
  RealFileReader files;
  NoEnvironment env;
  std::unique_ptr<agent::Clock> clock = agent::real_clock();
};

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);  // as an editor or a git checkout would: one event
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Runs the agent on `rig` in a thread until `body` returns; then SIGTERM
// (as an event pushed through the real signalfd: a raise()).
template <class Body>
int with_agent(Rig& rig, agent::EventSource& events, milliseconds debounce, const Body& body) {
  agent::ReconcileOptions ro;
  ro.manifests.dir = rig.dir;
  ro.exec.parallelism = 2;
  agent::Reconciler reconciler(
      agent::ReconcilerPorts{rig.files, rig.env, rig.lock, rig.opener, *rig.clock, rig.log, [] { return 0.5; }}, ro);
  agent::AgentOptions ao;
  ao.schedule.debounce = debounce;
  agent::Agent loop(agent::AgentPorts{events, rig.notifier, rig.writer, rig.log, *rig.clock}, reconciler, ao);
  int rc = -1;
  std::thread t([&] { rc = loop.run(); });
  body(reconciler);
  ::kill(::getpid(), SIGTERM);  // blocked in every thread: it goes to the signalfd
  t.join();
  return rc;
}

bool wait_ready(Rig& rig, milliseconds within) {
  const auto end = steady_clock::now() + within;
  while (steady_clock::now() < end) {
    for (const auto& m : rig.notifier.messages())
      if (m.rfind("READY=1", 0) == 0) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

void latency(const std::string& root, milliseconds debounce, int runs) {
  const std::string dir = root + "/latency-" + std::to_string(debounce.count());
  fs::create_directories(dir);
  write_file(dir + "/host.yaml", kHost);
  Rig rig(dir);
  auto events = agent::watch_manifests({dir});
  if (!events) {
    std::fprintf(stderr, "agent_bench: %s\n", events.error().message.c_str());
    std::exit(1);
  }
  std::vector<double> ms;
  with_agent(rig, *events.value(), debounce, [&](agent::Reconciler&) {
    if (!wait_ready(rig, seconds(10))) {
      std::fprintf(stderr, "agent_bench: the agent did not become ready\n");
      std::exit(1);
    }
    for (int i = 0; i < runs; ++i) {
      const std::string name = "lat" + std::to_string(i);
      rig.log.expect(name);
      const auto t0 = steady_clock::now();
      write_file(dir + "/" + name + ".yaml", instance(name));
      auto seen = rig.log.wait(seconds(10));
      if (!seen) {
        std::fprintf(stderr, "agent_bench: no step started for %s within 10 s\n", name.c_str());
        std::exit(1);
      }
      ms.push_back(duration<double, std::milli>(*seen - t0).count());
      std::this_thread::sleep_for(milliseconds(50));  // let the reconcile finish
    }
  });
  std::printf(
      "agent  reaction latency, manifest write -> first step started, --debounce %lld: median %.1f ms, "
      "min %.1f ms, max %.1f ms (%d runs, fake host, real inotify)\n",
      static_cast<long long>(debounce.count()), median(ms), *std::min_element(ms.begin(), ms.end()),
      *std::max_element(ms.begin(), ms.end()), runs);
}

void idle(const std::string& root, int seconds_idle) {
  const std::string dir = root + "/idle";
  fs::create_directories(dir);
  std::string fleet = kHost;
  for (int i = 0; i < 100; ++i) fleet += "---\n" + instance("bot-" + std::to_string(i));
  write_file(dir + "/fleet.yaml", fleet);
  Rig rig(dir);
  rig.notifier.watchdog_usec = microseconds(seconds(30));
  auto events = agent::watch_manifests({dir});
  if (!events) std::exit(1);
  with_agent(rig, *events.value(), milliseconds(500), [&](agent::Reconciler& r) {
    if (!wait_ready(rig, seconds(60))) {
      std::fprintf(stderr, "agent_bench: the agent did not become ready\n");
      std::exit(1);
    }
    const auto reconciles = r.status().reconciles;
    const double cpu0 = cpu_seconds();
    const auto t0 = steady_clock::now();
    std::this_thread::sleep_for(seconds(seconds_idle));
    const double cpu = cpu_seconds() - cpu0;
    const double wall = duration<double>(steady_clock::now() - t0).count();
    const auto sent = rig.notifier.messages();
    std::printf(
        "agent  idle, 100 instances converged (fake host), %.0f s: CPU %.3f s (%.4f %% of one core), "
        "RSS %ld KiB, %zu reconcile(s) in that time, %zu watchdog ping(s) total\n",
        wall, cpu, 100.0 * cpu / wall, rss_kib(), r.status().reconciles - reconciles,
        static_cast<std::size_t>(std::count(sent.begin(), sent.end(), std::string("WATCHDOG=1"))));
  });
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/cf-agent-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string root = tmpl;
  const char* env = std::getenv("CLAWFLEET_BENCH_IDLE_SECONDS");
  const int idle_seconds = env && *env ? std::atoi(env) : 60;
  latency(root, milliseconds(500), 25);
  latency(root, milliseconds(0), 25);
  idle(root, idle_seconds);
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
