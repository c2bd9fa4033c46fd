#pragma once

// `hm-etcd-driver actor-lease`: the node's lease as the product runs it, the
// etcd_lease actor over the http engine, in an actor system of its own.

#include "cluster/etcd_requests.hpp"
#include "cluster/node_lease.hpp"

#include <chrono>

namespace hm {

/// Runs the actor for `total`, printing its news ("granted", "lost") and every change of
/// its status ("status": lease, live), then "end"; revokes the lease with `revoke`.
int run_actor_lease(etcd::endpoints members, node_lease::settings settings,
                    std::chrono::seconds total, bool revoke);

} // namespace hm
