#include "metrics/node_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <stdexcept>

namespace hm::metrics {

node_metrics::node_metrics(const std::string& node)
  : registry_(std::make_shared<prometheus::Registry>()) {
  // A family's constant labels go on every series it has: the node's name, once.
  prometheus::Labels constant;
  if (!node.empty())
    constant.emplace("node", node);
  // Every family is registered up front, once; a scrape shows a family as soon as a
  // profile has given it series (profile_metrics creates all of them at zero).
  for (auto& f : all_families) {
    auto name = std::string{f.name};
    auto help = std::string{f.help};
    switch (f.type) {
      case family_type::gauge:
        gauges_[f.name] =
          &prometheus::BuildGauge().Name(name).Help(help).Labels(constant).Register(*registry_);
        break;
      case family_type::counter:
        counters_[f.name] =
          &prometheus::BuildCounter().Name(name).Help(help).Labels(constant).Register(*registry_);
        break;
      case family_type::histogram:
        histograms_[f.name] = &prometheus::BuildHistogram()
                                 .Name(name)
                                 .Help(help)
                                 .Labels(constant)
                                 .Register(*registry_);
        break;
    }
  }
  if (!node.empty())
    renewals_failed_ = &prometheus::BuildCounter()
                          .Name(std::string{node_renewals_failed.name})
                          .Help(std::string{node_renewals_failed.help})
                          .Labels(constant)
                          .Register(*registry_)
                          .Add({});
}

std::shared_ptr<profile_metrics> node_metrics::profile(const std::string& name) {
  std::lock_guard guard{mutex_};
  auto& handle = profiles_[name];
  if (!handle)
    handle = std::make_shared<profile_metrics>(*this, name);
  return handle;
}

namespace {

template <class Map>
auto& find_family(Map& families, const family_info& f) {
  auto i = families.find(f.name);
  if (i == families.end()) // a family of families.hpp used with the wrong type
    throw std::logic_error{"no such metric family: " + std::string{f.name}};
  return *i->second;
}

} // namespace

prometheus::Family<prometheus::Gauge>& node_metrics::gauge(const family_info& f) {
  return find_family(gauges_, f);
}

prometheus::Family<prometheus::Counter>& node_metrics::counter(const family_info& f) {
  return find_family(counters_, f);
}

prometheus::Family<prometheus::Histogram>& node_metrics::histogram(const family_info& f) {
  return find_family(histograms_, f);
}

} // namespace hm::metrics
