// Which resolvers the guests get (Host spec.dns), decided once per plan:
// the manifest's list; else the default recorded when the Host was first
// applied; else the host's current resolvers, which apply then records.
// Pure: what the host says arrives as model::ObservedDns.
#pragma once

#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::plan {

enum class DnsFrom { Manifest, Recorded, Host };

struct DnsChoice {
  std::vector<Ipv4> servers;
  DnsFrom from = DnsFrom::Manifest;
  // "" or one sentence: the recorded default and the host's resolvers differ.
  std::string warning;
  bool operator==(const DnsChoice&) const = default;
};

// An error, saying how to set spec.dns, when the manifest leaves it unset,
// nothing is recorded and the host has no usable resolver.
Result<DnsChoice> choose_dns(const model::Host& host, const model::ObservedDns& seen);

}  // namespace cf::plan
