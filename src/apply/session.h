// The host one converge works on: every port (host/ports.h) and the apply
// journal, opened for the Host the manifests describe. The CLI opens one
// per verb, the agent one per reconcile; tests hand out sessions on one
// fake host (tests/fakes/fake_host.h).
#pragma once

#include <memory>

#include "apply/journal.h"
#include "core/result.h"
#include "host/ports.h"
#include "model/desired.h"

namespace cf::apply {

// Used from one thread; ports().connect_systemd opens one more systemd
// connection per executor worker.
class HostSession {
 public:
  virtual ~HostSession() = default;
  virtual host::Ports ports() = 0;
  virtual Journal& journal() = 0;
};

class HostOpener {
 public:
  virtual ~HostOpener() = default;
  virtual Result<std::unique_ptr<HostSession>> open(const model::Host& host) = 0;
};

// host::RealHost and the journal under the Host's state root.
std::unique_ptr<HostOpener> real_host_opener(host::SecretReader read_secret);

}  // namespace cf::apply
