#pragma once

// A node's metrics as plain data (messages/cluster_observe.hpp) and back: a cluster
// node sends its snapshot to the coordinator, whose /metrics merges every node's
// into one exposition.

#include "messages/cluster_observe.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <set>
#include <string>
#include <vector>

namespace hm::metrics {

/// Everything `source` holds now, as plain data (summaries and untyped series,
/// which hermes-matrix never makes, are left out). With `profiles`, a series with a
/// `profile` label is kept only for those profiles: a cluster node shows the
/// profiles it serves now, not the ones whose lease went elsewhere (their handles,
/// kept for a later lease, would say "down" for a profile that runs on another node).
[[nodiscard]] metrics_snapshot snapshot_of(const prometheus::Collectable& source,
                                           const std::string& node,
                                           const std::set<std::string>* profiles = nullptr);

/// The families of every snapshot, one family per name (the first snapshot's help
/// and type; a later family of the same name with another type is dropped), in the
/// order names first appear. A snapshot with a `node` has node="<its node>" on every
/// series, whatever label the node itself sent: the coordinator names the node it asked.
[[nodiscard]] std::vector<prometheus::MetricFamily>
merge_snapshots(const std::vector<metrics_snapshot>& snapshots);

} // namespace hm::metrics
