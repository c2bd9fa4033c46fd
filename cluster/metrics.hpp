#pragma once

// The coordinator's own metric families (metrics/families.hpp, "the cluster"),
// computed from its lease table at each scrape: plain data in, a snapshot out.

#include "cluster/table.hpp"
#include "messages/cluster_observe.hpp"

#include <set>
#include <string>
#include <vector>

namespace hm {

/// What the coordinator knows of the cluster when a scrape asks.
struct cluster_facts {
  std::vector<node_view> nodes;
  cluster_counts counts;
  uint64_t renewals_refused = 0;
  std::set<std::string> answered; ///< nodes whose snapshot came in time
};

/// The cluster families as a snapshot without a node of its own (its series name
/// the node they are about, if any).
[[nodiscard]] metrics_snapshot cluster_snapshot(const cluster_facts& facts);

} // namespace hm
