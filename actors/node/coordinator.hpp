#pragma once

#include "cluster/table.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace hm {

struct coordinator_settings {
  cluster_rules rules;
  /// The shared secret every node must prove it knows (never sent, never logged).
  std::string secret;
};

/// Spawns the coordinator: it authenticates joining nodes by challenge and
/// response, places the profiles they offer under leases (see cluster_table)
/// and answers the status of the whole cluster. The caller publishes it.
[[nodiscard]] coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                                  coordinator_settings settings);

} // namespace hm
