#pragma once

// What the coordinator shows of the whole cluster (admin API, /metrics): the
// nodes as it sees them and each node's metrics. They cross the network (a
// node's snapshot goes to the coordinator), so every field is a plain
// serializable value with `inspect`. No CAF header: metrics/ and cluster/ use
// them without CAF.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hm {

/// One node of the cluster as the coordinator sees it.
struct node_view {
  std::string name;
  bool alive = false;          ///< renewed within the lease
  uint32_t leases = 0;         ///< profiles it holds a lease for
  std::chrono::nanoseconds since_renewal{0}; ///< time since its last renewal (or its join)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_view& x) {
  return f(x.name, x.alive, x.leases, x.since_renewal);
}

/// One label of a series.
struct metric_label {
  std::string name;
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_label& x) {
  return f(x.name, x.value);
}

/// One series: a counter's or gauge's value, or a histogram's count, sum and
/// cumulative bucket counts with their upper bounds (+Inf last).
struct metric_series {
  std::vector<metric_label> labels;
  double value = 0;
  uint64_t count = 0;
  double sum = 0;
  std::vector<uint64_t> buckets;
  std::vector<double> bounds;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_series& x) {
  return f(x.labels, x.value, x.count, x.sum, x.buckets,
           x.bounds);
}

/// One family of a node's metrics. `type`: 0 counter, 1 gauge, 2 histogram
/// (metrics::family_type's order); anything else is not sent.
struct metric_family_data {
  std::string name;
  std::string help;
  uint8_t type = 0;
  std::vector<metric_series> series;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_family_data& x) {
  return f(x.name, x.help, x.type, x.series);
}

/// Every family of one node (or the coordinator's cluster families), taken at
/// one moment.
struct metrics_snapshot {
  std::string node;
  std::vector<metric_family_data> families;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_snapshot& x) {
  return f(x.node, x.families);
}

} // namespace hm
