#pragma once

#include "actors/node/supervisor.hpp"
#include "messages/interfaces.hpp"
#include "profiles/config.hpp"

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hm {

struct cluster_node_settings {
  std::string name;
  /// The shared secret, to answer the coordinator's challenge (never sent).
  std::string secret;
  /// Where the coordinator listens (unused when it runs in this process).
  std::string host;
  uint16_t port = 0;
  bool tls = false;
  /// How often the node renews its leases (well inside the lease).
  caf::timespan renew_every = std::chrono::seconds{3};
  /// A profile withdrawn for a move is drained (in-flight replies finish) for
  /// at most this long, then stopped anyway (the next holder resumes its turns
  /// from the journal, exactly once).
  caf::timespan drain_limit = std::chrono::seconds{60};
  supervision_policy policy;
  cell_factory factory;
  /// Where each profile's supervisor reports state and restarts (shared by the node).
  std::shared_ptr<metrics::node_metrics> metrics;
  /// The profiles this node sees in its HERMES_HOME (it offers the usable ones).
  std::vector<profiles::loaded_profile> profiles;
  /// Called once when the coordinator refuses this node (wrong secret): the
  /// process cannot do anything useful and should exit.
  std::function<void(const std::string&)> refused;
};

/// Spawns a node: it joins the coordinator (`local`, or the one at host:port
/// over the middleman) with the secret's proof, renews its leases every
/// `renew_every`, and runs a supervisor for each profile it holds a lease for.
/// A profile whose lease is withdrawn is stopped (drained first when withdrawn
/// for a move); a store the coordinator orders it to carry is sent piece by
/// piece through the coordinator, and set aside once the target has it; a
/// store carried to it is verified and put in place. When the lease cannot be
/// renewed before it runs out (coordinator gone, network cut), every profile
/// of the node is stopped. On an exit message it stops its profiles and quits.
[[nodiscard]] cluster_node_actor spawn_cluster_node(caf::actor_system& sys,
                                                    cluster_node_settings settings,
                                                    coordinator_actor local);

} // namespace hm
