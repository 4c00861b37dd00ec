#include "apply/engine.h"

#include "apply/desired.h"
#include "apply/journal.h"
#include "host/observe.h"

namespace cf::apply {

std::optional<model::KvmProbe> probe_accelerator(const model::Host& host, const host::Ports& ports) {
  if (host.vmm.kind != model::VmmKind::Qemu || host.vmm.accel != model::Accel::Auto) return std::nullopt;
  if (host.images.empty() || !ports.platform.kvm_device() || ports.platform.recorded_kvm_probe()) return std::nullopt;
  auto image = host.images.find("default");
  if (image == host.images.end()) image = host.images.begin();
  return ports.platform.probe_kvm(host.vmm.binary, image->second.kernel, kKvmProbeDeadline);
}

Result<Planned> plan_once(const Target& target, const host::Ports& ports) {
  auto observed = host::observe(target.desired.fleet.host, ports);
  if (!observed) return Error{"cannot observe the host: " + observed.error().message};
  Planned p;
  p.observed = std::move(observed.value());
  auto desired =
      desired_for(target.desired.fleet, target.complete, target.desired.digests, target.desired.ca_digests, p.observed);
  if (!desired) return desired.error();
  p.desired = std::move(desired.value());
  p.plan = plan::make_plan(p.desired, p.observed, target.options);
  return p;
}

Applied apply_once(const Target& target, const Planned& planned, const plan::Plan& steps,
                   const std::vector<std::size_t>& seq, HostSession& session, const ExecOptions& exec,
                   const EventSink& on_event) {
  const host::Ports ports = session.ports();
  std::string run, journal_error;
  std::vector<StepReport> results;
  if (!steps.empty()) {
    // Each step's start and end are on disk before and after it runs, so a
    // crash leaves a trace; observation still wins next time.
    run = new_run_id();
    auto record = [&](const StepEvent& event) {
      StepEvent e = event;
      e.run = run;
      e.seq = e.index < seq.size() ? seq[e.index] : e.index;
      JournalRecord rec;
      rec.run = run;
      rec.seq = e.seq;
      rec.instance = e.step->instance;
      rec.action = plan::to_string(e.step->action);
      rec.event = e.start ? JournalEvent::Start : JournalEvent::End;
      if (!e.start) rec.result = e.result.outcome, rec.error = e.result.error;
      if (auto s = session.journal().append(rec); !s && journal_error.empty()) journal_error = s.error().message;
      if (on_event) on_event(e);
    };
    results = execute(steps, planned.desired, planned.observed, ports, exec, record);
  }
  return Applied{run, std::move(results), journal_error, plan_once(target, ports)};
}

}  // namespace cf::apply
