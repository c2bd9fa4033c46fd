#pragma once

// The node's metrics: one prometheus-cpp registry holding every family of
// families.hpp, and the per-profile handles into it. Not an actor: the handles are
// thread-safe and shared by the actors of a profile.

#include "metrics/families.hpp"
#include "metrics/profile_metrics.hpp"

#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hm::metrics {

class node_metrics {
public:
  /// `node`: the name of this cluster node ("" outside a cluster). Every series of
  /// a cluster node carries node="<name>", so that the coordinator's /metrics can
  /// show every node's series side by side.
  explicit node_metrics(const std::string& node = {});

  node_metrics(const node_metrics&) = delete;
  node_metrics& operator=(const node_metrics&) = delete;

  /// The handle of `profile`: created on first use with every series at zero, the same
  /// handle afterwards (a restarted cell counts on where its last life stopped).
  [[nodiscard]] std::shared_ptr<profile_metrics> profile(const std::string& name);

  /// A cluster node's failed lease renewals (nullptr outside a cluster).
  [[nodiscard]] prometheus::Counter* lease_renewals_failed() const { return renewals_failed_; }

  /// The registry an exposer serves.
  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // The families, for profile_metrics.
  prometheus::Family<prometheus::Gauge>& gauge(const family_info& f);
  prometheus::Family<prometheus::Counter>& counter(const family_info& f);
  prometheus::Family<prometheus::Histogram>& histogram(const family_info& f);

private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string_view, prometheus::Family<prometheus::Gauge>*> gauges_;
  std::map<std::string_view, prometheus::Family<prometheus::Counter>*> counters_;
  std::map<std::string_view, prometheus::Family<prometheus::Histogram>*> histograms_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<profile_metrics>> profiles_;
  prometheus::Counter* renewals_failed_ = nullptr;
};

} // namespace hm::metrics
