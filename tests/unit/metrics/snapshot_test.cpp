#define CAF_SUITE snapshot

#include "metrics/node_metrics.hpp"
#include "metrics/snapshot.hpp"
#include "scrape.hpp"

#include "caf/test/dsl.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <cmath>

using namespace hm;
using namespace hm::metrics;

namespace {

std::map<std::string, std::string> labels_of(const prometheus::ClientMetric& m) {
  std::map<std::string, std::string> out;
  for (auto& l : m.label)
    out[l.name] = l.value;
  return out;
}

/// One label's value, by value: a check must not hold a reference into a
/// temporary map (CAF_CHECK_EQUAL keeps its operands by reference).
std::string label(const prometheus::ClientMetric& m, const std::string& name) {
  return labels_of(m)[name];
}

const prometheus::MetricFamily* find(const std::vector<prometheus::MetricFamily>& all,
                                     const std::string& name) {
  for (auto& f : all)
    if (f.name == name)
      return &f;
  return nullptr;
}

/// The snapshot as it arrives on the coordinator: through CAF's binary format.
metrics_snapshot over_the_wire(metrics_snapshot snap) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  CAF_REQUIRE(!inspect(sink, snap));
  metrics_snapshot out;
  caf::binary_deserializer source{nullptr, buf};
  CAF_REQUIRE(!inspect(source, out));
  return out;
}

} // namespace

CAF_TEST(every series of a cluster node carries its node name) {
  node_metrics node{"gpu-box"};
  node.profile("coder")->message_answered();
  for (auto& f : node.registry()->Collect())
    for (auto& m : f.metric)
      CAF_CHECK_EQUAL(label(m, "node"), "gpu-box");
  CAF_CHECK_EQUAL(test::value(*node.registry(), "hermes_matrix_messages_answered_total",
                              {{"node", "gpu-box"}, {"profile", "coder"}}),
                  1.0);
  // Outside a cluster nothing changes: no node label.
  node_metrics single;
  (void) single.profile("coder");
  CAF_CHECK_EQUAL(test::value(*single.registry(), "hermes_matrix_profile_up",
                              {{"profile", "coder"}}),
                  0.0);
  CAF_CHECK(single.lease_renewals_failed() == nullptr);
  CAF_CHECK(node.lease_renewals_failed() != nullptr);
}

CAF_TEST(a snapshot crosses the wire and merges back to what the node holds) {
  node_metrics node{"w1"};
  auto coder = node.profile("coder");
  coder->sync_request("ok", std::chrono::milliseconds{300});
  coder->sync_request("ok", std::chrono::seconds{100}); // lands in the +Inf bucket
  coder->set_outbox_depth(4);
  auto snap = over_the_wire(snapshot_of(*node.registry(), "w1"));
  // No infinity is sent (CAF 0.17 cannot pack one): the +Inf bound is implied.
  for (auto& f : snap.families)
    for (auto& s : f.series)
      for (auto b : s.bounds)
        CAF_CHECK(std::isfinite(b));
  auto merged = merge_snapshots({snap});
  auto original = node.registry()->Collect();
  for (auto& f : original) {
    auto* got = find(merged, f.name);
    CAF_REQUIRE(got != nullptr);
    CAF_CHECK_EQUAL(got->help, f.help);
    CAF_CHECK(got->type == f.type);
    CAF_REQUIRE_EQUAL(got->metric.size(), f.metric.size());
    for (size_t i = 0; i < f.metric.size(); ++i) {
      auto& a = f.metric[i];
      auto& b = got->metric[i];
      CAF_CHECK(labels_of(a) == labels_of(b));
      CAF_CHECK_EQUAL(a.counter.value, b.counter.value);
      CAF_CHECK_EQUAL(a.gauge.value, b.gauge.value);
      CAF_CHECK_EQUAL(a.histogram.sample_count, b.histogram.sample_count);
      CAF_CHECK_EQUAL(a.histogram.sample_sum, b.histogram.sample_sum);
      CAF_REQUIRE_EQUAL(a.histogram.bucket.size(), b.histogram.bucket.size());
      for (size_t j = 0; j < a.histogram.bucket.size(); ++j) {
        CAF_CHECK_EQUAL(a.histogram.bucket[j].cumulative_count,
                        b.histogram.bucket[j].cumulative_count);
        // (CAF_CHECK_EQUAL compares doubles by their difference: NaN for +Inf.)
        CAF_CHECK(a.histogram.bucket[j].upper_bound == b.histogram.bucket[j].upper_bound);
      }
    }
  }
  auto* sync = find(merged, "hermes_matrix_sync_duration_seconds");
  CAF_REQUIRE(sync != nullptr && !sync->metric.empty());
  auto& buckets = sync->metric.front().histogram.bucket;
  CAF_CHECK(std::isinf(buckets.back().upper_bound));
  CAF_CHECK_EQUAL(buckets.back().cumulative_count, 2u);
}

CAF_TEST(merging names every series by the node asked and keeps one family per name) {
  node_metrics w1{"w1"};
  node_metrics liar{"not-its-name"};
  (void) w1.profile("alpha");
  (void) liar.profile("beta");
  auto a = snapshot_of(*w1.registry(), "w1");
  auto b = snapshot_of(*liar.registry(), "w2"); // the coordinator names the node it asked
  metrics_snapshot cluster; // the coordinator's own families: no node of their own
  metric_series two;
  two.value = 2;
  metric_series seven;
  seven.value = 7;
  cluster.families.push_back({"hermes_matrix_cluster_nodes_alive", "help", 1, {two}});
  // A family of the same name with another type is dropped, not mixed in.
  cluster.families.push_back({"hermes_matrix_profile_up", "help", 0, {seven}});
  auto merged = merge_snapshots({a, b, cluster});
  std::set<std::string> names;
  for (auto& f : merged)
    CAF_CHECK(names.insert(f.name).second);
  auto* up = find(merged, "hermes_matrix_profile_up");
  CAF_REQUIRE(up != nullptr);
  CAF_CHECK(up->type == prometheus::MetricType::Gauge);
  CAF_REQUIRE_EQUAL(up->metric.size(), 2u);
  CAF_CHECK_EQUAL(label(up->metric[0], "node"), "w1");
  CAF_CHECK_EQUAL(label(up->metric[0], "profile"), "alpha");
  CAF_CHECK_EQUAL(label(up->metric[1], "node"), "w2");
  CAF_CHECK_EQUAL(label(up->metric[1], "profile"), "beta");
  auto* alive = find(merged, "hermes_matrix_cluster_nodes_alive");
  CAF_REQUIRE(alive != nullptr && alive->metric.size() == 1);
  CAF_CHECK(alive->metric[0].label.empty());
  CAF_CHECK_EQUAL(alive->metric[0].gauge.value, 2.0);
}

CAF_TEST(a node shows the profiles it serves now and its own series) {
  node_metrics node{"w1"};
  (void) node.profile("alpha");
  (void) node.profile("beta"); // its lease went to another node
  std::set<std::string> serving{"alpha"};
  auto snap = snapshot_of(*node.registry(), "w1", &serving);
  bool alpha = false;
  bool own = false;
  for (auto& f : snap.families)
    for (auto& s : f.series) {
      std::map<std::string, std::string> labels;
      for (auto& l : s.labels)
        labels[l.name] = l.value;
      CAF_CHECK_NOT_EQUAL(labels["profile"], "beta");
      alpha = alpha || labels["profile"] == "alpha";
      own = own || f.name == "hermes_matrix_node_lease_renewals_failed_total";
    }
  CAF_CHECK(alpha);
  CAF_CHECK(own);
}
