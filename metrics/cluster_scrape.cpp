#include "metrics/cluster_scrape.hpp"

#include "metrics/snapshot.hpp"

namespace hm::metrics {

void cluster_scrape::connect(source fetch) {
  std::lock_guard guard{mutex_};
  fetch_ = std::move(fetch);
}

void cluster_scrape::disconnect() {
  std::lock_guard guard{mutex_};
  fetch_ = nullptr;
}

std::vector<prometheus::MetricFamily> cluster_scrape::Collect() const {
  std::lock_guard guard{mutex_};
  if (!fetch_)
    return {};
  return merge_snapshots(fetch_());
}

} // namespace hm::metrics
