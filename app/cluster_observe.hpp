#pragma once

// The coordinator as the window onto the whole cluster (README: "A cluster"): the
// name a node's metrics carry, and the fetch behind the coordinator's /metrics.

#include "app/commands.hpp"
#include "messages/interfaces.hpp"
#include "metrics/cluster_scrape.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace hm {

/// The `node` label of this process's metrics: --node-name, else "coordinator" for
/// a coordinator (the name start_cluster gives its node); "" outside a cluster.
[[nodiscard]] std::string metrics_node_name(const cluster_options& options);

/// What the coordinator's /metrics fetches at each scrape: every live node's
/// snapshot and the cluster families, asked of `coordinator` from the exposer's
/// thread, waiting a few seconds at most (nothing when it does not answer).
[[nodiscard]] metrics::cluster_scrape::source
coordinator_metrics_source(caf::actor_system& sys, coordinator_actor coordinator);

} // namespace hm
