#pragma once

// The node's lease in etcd as an actor: cluster/node_lease's decisions performed through
// the http engine. Thin on purpose: which request, when, and when the lease counts as
// lost are the machine's; this actor only sends, fails over between members, and wakes.

#include "cluster/etcd_requests.hpp"
#include "cluster/node_lease.hpp"
#include "messages/interfaces.hpp"
#include "profiles/secret.hpp"

#include <caf/fwd.hpp>

namespace hm {

struct etcd_lease_config {
  /// etcd's members; a request that gets no answer or `unavailable` goes to the next.
  etcd::endpoints members;
  /// TTL and safety margin (`members` is set from the list above).
  node_lease::settings lease;
  /// The `Authorization` value for etcd with authentication on (a token from
  /// /v3/auth/authenticate); empty: none.
  secret token;
};

/// Spawns the actor; it grants a lease at once and tells `listener` about it.
[[nodiscard]] etcd_lease_actor spawn_etcd_lease(caf::actor_system& sys,
                                                http_engine_actor engine,
                                                etcd_lease_config config,
                                                etcd_lease_listener_actor listener);

} // namespace hm
