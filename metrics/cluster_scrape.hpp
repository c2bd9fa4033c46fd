#pragma once

// What the coordinator's /metrics serves: the merged snapshots of every node of
// the cluster, fetched at each scrape on the exposer's own thread (blocking there is
// fine; never on an actor's). The fetching is given by the caller, so that this
// layer knows no actors.

#include "messages/cluster_observe.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <mutex>
#include <vector>

namespace hm::metrics {

class cluster_scrape : public prometheus::Collectable {
public:
  /// Fetches every node's snapshot (and the coordinator's own families), waiting
  /// a bounded time; what did not come in time is left out.
  using source = std::function<std::vector<metrics_snapshot>()>;

  /// From now on a scrape fetches through `fetch`.
  void connect(source fetch);

  /// From now on a scrape is empty; returns once a scrape in flight is done (so
  /// that what `fetch` uses may go away).
  void disconnect();

  std::vector<prometheus::MetricFamily> Collect() const override;

private:
  mutable std::mutex mutex_; // held during a fetch: scrapes are one at a time
  source fetch_;
};

} // namespace hm::metrics
