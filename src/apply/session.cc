#include "apply/session.h"

#include "host/real_host.h"

namespace cf::apply {
namespace {

class RealSession : public HostSession {
 public:
  RealSession(std::unique_ptr<host::RealHost> host, std::unique_ptr<Journal> journal)
      : host_(std::move(host)), journal_(std::move(journal)) {}
  host::Ports ports() override { return host_->ports(); }
  Journal& journal() override { return *journal_; }

 private:
  std::unique_ptr<host::RealHost> host_;
  std::unique_ptr<Journal> journal_;
};

class RealHostOpener : public HostOpener {
 public:
  explicit RealHostOpener(host::SecretReader read_secret) : read_secret_(std::move(read_secret)) {}
  Result<std::unique_ptr<HostSession>> open(const model::Host& h) override {
    auto host = host::RealHost::open(h, read_secret_);
    if (!host) return host.error();
    return std::unique_ptr<HostSession>(
        std::make_unique<RealSession>(std::move(host.value()), journal_at(h.state_root)));
  }

 private:
  host::SecretReader read_secret_;
};

}  // namespace

std::unique_ptr<HostOpener> real_host_opener(host::SecretReader read_secret) {
  return std::make_unique<RealHostOpener>(std::move(read_secret));
}

}  // namespace cf::apply
