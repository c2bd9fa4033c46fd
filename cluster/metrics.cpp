#include "cluster/metrics.hpp"

#include "metrics/families.hpp"

namespace hm {

namespace {

metric_family_data family(const metrics::family_info& f) {
  metric_family_data data;
  data.name = std::string{f.name};
  data.help = std::string{f.help};
  data.type = static_cast<uint8_t>(f.type);
  return data;
}

metric_family_data single(const metrics::family_info& f, double value) {
  auto data = family(f);
  metric_series s;
  s.value = value;
  data.series.push_back(std::move(s));
  return data;
}

template <class ValueOf>
metric_family_data per_node(const metrics::family_info& f, const std::vector<node_view>& nodes,
                            ValueOf value_of) {
  auto data = family(f);
  for (auto& n : nodes) {
    metric_series s;
    s.labels.push_back({"node", n.name});
    s.value = value_of(n);
    data.series.push_back(std::move(s));
  }
  return data;
}

} // namespace

metrics_snapshot cluster_snapshot(const cluster_facts& facts) {
  using namespace hm::metrics;
  metrics_snapshot out;
  double alive = 0;
  for (auto& n : facts.nodes)
    alive += n.alive ? 1 : 0;
  auto& c = facts.counts;
  out.families.push_back(single(cluster_nodes_alive, alive));
  out.families.push_back(
    per_node(cluster_node_up, facts.nodes, [](const node_view& n) { return n.alive ? 1.0 : 0.0; }));
  out.families.push_back(per_node(cluster_leases, facts.nodes,
                                  [](const node_view& n) { return double(n.leases); }));
  out.families.push_back(per_node(cluster_node_scrape_ok, facts.nodes, [&](const node_view& n) {
    return facts.answered.count(n.name) > 0 ? 1.0 : 0.0;
  }));
  out.families.push_back(single(cluster_lease_grants, double(c.grants)));
  out.families.push_back(single(cluster_failovers, double(c.failovers)));
  out.families.push_back(single(cluster_nodes_lost, double(c.nodes_lost)));
  out.families.push_back(single(cluster_moves, double(c.moves)));
  out.families.push_back(single(cluster_renewals_refused, double(facts.renewals_refused)));
  return out;
}

} // namespace hm
