#define CAF_SUITE cluster_observe

#include "cluster/metrics.hpp"
#include "cluster/table.hpp"
#include "table_fixture.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm;
using namespace std::chrono_literals;

namespace {

using clock_type = cluster_table_fixture::clock_type;

struct fixture : cluster_table_fixture {
  static std::vector<profile_offer> offer(const std::string& profile, std::string pin = {}) {
    return {{profile, std::move(pin)}};
  }

  static const metric_family_data& family(const metrics_snapshot& s, const std::string& name) {
    for (auto& f : s.families)
      if (f.name == name)
        return f;
    CAF_FAIL("no family " << name);
    return s.families.front();
  }

  static double value(const metrics_snapshot& s, const std::string& name,
                      const std::string& node = {}) {
    for (auto& series : family(s, name).series)
      if (node.empty() ? series.labels.empty()
                       : (series.labels.size() == 1 && series.labels[0].value == node))
        return series.value;
    return -1;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_observe_tests, fixture)

CAF_TEST(nodes show liveness and leases and time since renewal) {
  cluster_table t{rules, t0};
  t.node_joined("a", offer("p", "a"), t0);
  t.node_joined("b", offer("q", "b"), t0);
  t.place(t0 + 1s);
  t.node_renewed("a", {}, t0 + 5s);
  auto nodes = t.nodes(t0 + 12s); // b's lease (from t0) is over, a's (from 5 s) is not
  CAF_REQUIRE_EQUAL(nodes.size(), 2u);
  CAF_CHECK_EQUAL(nodes[0].name, "a");
  CAF_CHECK(nodes[0].alive);
  CAF_CHECK_EQUAL(nodes[0].leases, 1u);
  CAF_CHECK(nodes[0].since_renewal == caf::timespan{7s});
  CAF_CHECK_EQUAL(nodes[1].name, "b");
  CAF_CHECK(!nodes[1].alive);
  CAF_CHECK_EQUAL(nodes[1].leases, 1u);
}

CAF_TEST(a notification goes to the live holder only) {
  cluster_table t{rules, t0};
  t.node_joined("a", offer("p", "a"), t0);
  CAF_CHECK(!t.route("nobody", t0).known);
  CAF_CHECK_EQUAL(t.route("p", t0).why, "it is not placed yet");
  t.place(t0 + 500ms); // still settling
  auto before = t.route("p", t0 + 500ms);
  CAF_CHECK(before.known && before.node.empty());
  CAF_CHECK_EQUAL(before.why, "waiting for nodes to join");
  t.place(t0 + 1s);
  CAF_CHECK_EQUAL(t.route("p", t0 + 1s).node, "a");
  // a is lost: p waits for it (pinned), and says so.
  t.place(t0 + 11s);
  auto lost = t.route("p", t0 + 11s);
  CAF_CHECK(lost.known && lost.node.empty());
  CAF_CHECK_EQUAL(lost.why, "waiting for node a (HERMES_MATRIX_NODE)");
}

CAF_TEST(counts of grants and lost nodes and failovers and moves) {
  cluster_table t{rules, t0};
  t.node_joined("a", {{"p", ""}, {"q", ""}}, t0);
  t.node_joined("b", {{"p", ""}, {"q", ""}}, t0);
  t.place(t0 + 1s);
  CAF_CHECK_EQUAL(t.counts().grants, 2u);
  // b is lost; a renews: b's profile fails over to a.
  t.node_renewed("a", {}, t0 + 9s);
  t.place(t0 + 11s);
  CAF_CHECK_EQUAL(t.counts().nodes_lost, 1u);
  CAF_CHECK_EQUAL(t.counts().failovers, 1u);
  CAF_CHECK_EQUAL(t.counts().grants, 3u);
  t.place(t0 + 12s); // lost once, counted once
  CAF_CHECK_EQUAL(t.counts().nodes_lost, 1u);
  // b is back: one profile moves to it.
  t.node_joined("b", {{"p", ""}, {"q", ""}}, t0 + 13s);
  t.node_renewed("a", {}, t0 + 13s);
  t.place(t0 + 13s);
  CAF_CHECK_EQUAL(t.counts().moves, 1u);
}

CAF_TEST(the cluster families say what the table says) {
  cluster_facts facts;
  facts.nodes = {{"a", true, 2, 1s}, {"b", false, 1, 20s}};
  facts.counts.grants = 5;
  facts.counts.failovers = 1;
  facts.counts.nodes_lost = 1;
  facts.counts.moves = 2;
  facts.renewals_refused = 3;
  facts.answered = {"a"};
  auto s = cluster_snapshot(facts);
  CAF_CHECK(s.node.empty());
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_nodes_alive"), 1.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_node_up", "a"), 1.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_node_up", "b"), 0.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_leases", "a"), 2.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_node_scrape_ok", "a"), 1.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_node_scrape_ok", "b"), 0.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_lease_grants_total"), 5.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_failovers_total"), 1.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_nodes_lost_total"), 1.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_moves_total"), 2.0);
  CAF_CHECK_EQUAL(value(s, "hermes_matrix_cluster_renewals_refused_total"), 3.0);
}

CAF_TEST_FIXTURE_SCOPE_END()
