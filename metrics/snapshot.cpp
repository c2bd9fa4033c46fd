#include "metrics/snapshot.hpp"

#include "metrics/families.hpp"

#include <prometheus/client_metric.h>

#include <cmath>
#include <limits>
#include <map>

namespace hm::metrics {

namespace {

constexpr uint8_t counter_type = static_cast<uint8_t>(family_type::counter);
constexpr uint8_t gauge_type = static_cast<uint8_t>(family_type::gauge);
constexpr uint8_t histogram_type = static_cast<uint8_t>(family_type::histogram);

bool type_of(prometheus::MetricType t, uint8_t& out) {
  switch (t) {
    case prometheus::MetricType::Counter: out = counter_type; return true;
    case prometheus::MetricType::Gauge: out = gauge_type; return true;
    case prometheus::MetricType::Histogram: out = histogram_type; return true;
    default: return false;
  }
}

bool prometheus_type(uint8_t t, prometheus::MetricType& out) {
  switch (t) {
    case counter_type: out = prometheus::MetricType::Counter; return true;
    case gauge_type: out = prometheus::MetricType::Gauge; return true;
    case histogram_type: out = prometheus::MetricType::Histogram; return true;
    default: return false;
  }
}

/// CAF 0.17 packs a double by halving it until it is below 2: an infinity never is,
/// and the node's thread serializing it spins forever. So no infinite or NaN value
/// crosses the wire: the +Inf bucket's bound is implied, a series with such a value
/// is left out (hermes-matrix never makes one).
bool finite_series(const metric_series& s) {
  if (!std::isfinite(s.value) || !std::isfinite(s.sum))
    return false;
  for (auto b : s.bounds)
    if (!std::isfinite(b))
      return false;
  return true;
}

metric_series series_of(const prometheus::ClientMetric& m, uint8_t type) {
  metric_series s;
  for (auto& l : m.label)
    s.labels.push_back({l.name, l.value});
  if (type == counter_type)
    s.value = m.counter.value;
  else if (type == gauge_type)
    s.value = m.gauge.value;
  else {
    s.count = m.histogram.sample_count;
    s.sum = m.histogram.sample_sum;
    for (auto& b : m.histogram.bucket) {
      s.buckets.push_back(b.cumulative_count);
      if (!std::isinf(b.upper_bound) || b.upper_bound < 0)
        s.bounds.push_back(b.upper_bound); // the last bucket's +Inf is implied
    }
  }
  return s;
}

prometheus::ClientMetric client_metric_of(const metric_series& s, uint8_t type,
                                          const std::string& node) {
  prometheus::ClientMetric m;
  bool named = false;
  for (auto& l : s.labels) {
    if (!node.empty() && l.name == "node") {
      m.label.push_back({"node", node});
      named = true;
    } else {
      m.label.push_back({l.name, l.value});
    }
  }
  if (!node.empty() && !named)
    m.label.push_back({"node", node});
  if (type == counter_type)
    m.counter.value = s.value;
  else if (type == gauge_type)
    m.gauge.value = s.value;
  else {
    m.histogram.sample_count = s.count;
    m.histogram.sample_sum = s.sum;
    for (size_t i = 0; i < s.buckets.size(); ++i)
      m.histogram.bucket.push_back(
        {s.buckets[i], i < s.bounds.size() ? s.bounds[i] : std::numeric_limits<double>::infinity()});
  }
  return m;
}

bool kept(const metric_series& s, const std::set<std::string>* profiles) {
  if (profiles == nullptr)
    return true;
  for (auto& l : s.labels)
    if (l.name == "profile")
      return profiles->count(l.value) > 0;
  return true;
}

} // namespace

metrics_snapshot snapshot_of(const prometheus::Collectable& source, const std::string& node,
                             const std::set<std::string>* profiles) {
  metrics_snapshot out;
  out.node = node;
  for (auto& f : source.Collect()) {
    metric_family_data data;
    if (!type_of(f.type, data.type))
      continue;
    data.name = f.name;
    data.help = f.help;
    for (auto& m : f.metric)
      if (auto s = series_of(m, data.type); finite_series(s) && kept(s, profiles))
        data.series.push_back(std::move(s));
    out.families.push_back(std::move(data));
  }
  return out;
}

std::vector<prometheus::MetricFamily>
merge_snapshots(const std::vector<metrics_snapshot>& snapshots) {
  std::vector<prometheus::MetricFamily> out;
  std::map<std::string, size_t> index; // family name -> position in out
  for (auto& snap : snapshots)
    for (auto& f : snap.families) {
      prometheus::MetricType type;
      if (!prometheus_type(f.type, type))
        continue;
      auto [i, fresh] = index.emplace(f.name, out.size());
      if (fresh) {
        prometheus::MetricFamily family;
        family.name = f.name;
        family.help = f.help;
        family.type = type;
        out.push_back(std::move(family));
      }
      auto& family = out[i->second];
      if (family.type != type)
        continue;
      for (auto& s : f.series)
        family.metric.push_back(client_metric_of(s, f.type, snap.node));
    }
  return out;
}

} // namespace hm::metrics
