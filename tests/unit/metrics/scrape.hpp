#pragma once

// Reading series back out of a registry, as a scrape would see them.

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm::metrics::test {

using label_set = std::map<std::string, std::string>;

/// The family called `name` in a fresh collection of `registry`, if registered.
inline std::optional<prometheus::MetricFamily> family(const prometheus::Registry& registry,
                                                      const std::string& name) {
  for (auto& f : registry.Collect())
    if (f.name == name)
      return f;
  return std::nullopt;
}

/// The series of `name` whose labels are exactly `labels`.
inline std::optional<prometheus::ClientMetric>
series(const prometheus::Registry& registry, const std::string& name, const label_set& labels) {
  auto f = family(registry, name);
  if (!f)
    return std::nullopt;
  for (auto& m : f->metric) {
    label_set have;
    for (auto& l : m.label)
      have[l.name] = l.value;
    if (have == labels)
      return m;
  }
  return std::nullopt;
}

/// A counter's or gauge's value (-1 when the series does not exist).
inline double value(const prometheus::Registry& registry, const std::string& name,
                    const label_set& labels) {
  auto s = series(registry, name, labels);
  if (!s)
    return -1;
  auto f = family(registry, name);
  return f->type == prometheus::MetricType::Counter ? s->counter.value : s->gauge.value;
}

} // namespace hm::metrics::test
