#define CAF_SUITE cluster_table

#include "cluster/table.hpp"
#include "table_fixture.hpp"

#include "caf/test/unit_test.hpp"

#include <algorithm>

using namespace hm;
using namespace std::chrono_literals;

namespace {

using clock_type = cluster_table_fixture::clock_type;
using fixture = cluster_table_fixture;

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_table_tests, fixture)

CAF_TEST(nothing is placed while the nodes settle) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  CAF_CHECK(t.place(t0 + 500ms).empty());
  CAF_CHECK(t.grants_of("a").empty());
  t.place(t0 + 1s);
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 1u);
}

CAF_TEST(a pinned profile goes to its node or waits for it) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p", "q"}, "b"), t0);
  t.place(t0 + 2s);
  CAF_CHECK_EQUAL(holder(t, "q", t0 + 2s), "a");
  CAF_CHECK_EQUAL(holder(t, "p", t0 + 2s), "");
  auto st = t.status(t0 + 2s);
  auto p = std::find_if(st.begin(), st.end(), [](auto& s) { return s.profile == "p"; });
  CAF_REQUIRE(p != st.end());
  CAF_CHECK_EQUAL(p->state, profile_state::waiting);
  CAF_CHECK(p->last_error.find("waiting for node b") != std::string::npos);
  t.node_joined("b", offers({"p", "q"}, "b"), t0 + 3s);
  t.place(t0 + 3s);
  CAF_CHECK_EQUAL(holder(t, "p", t0 + 3s), "b");
}

CAF_TEST(free profiles are balanced by load) {
  cluster_table t{rules, t0};
  for (auto* n : {"a", "b", "c"})
    t.node_joined(n, offers({"p1", "p2", "p3", "p4", "p5", "p6"}), t0);
  t.place(t0 + 2s);
  for (auto* n : {"a", "b", "c"})
    CAF_CHECK_EQUAL(t.grants_of(n).size(), 2u);
}

CAF_TEST(the profiles of a lost node move with shared storage after the lease) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.place(t0 + 2s);
  auto epoch = t.grants_of("a").at(0).epoch;
  t.node_joined("b", offers({"p"}), t0 + 3s);
  t.node_renewed("a", {running("p")}, t0 + 3s);
  // b keeps renewing; a does not.
  t.node_renewed("b", {}, t0 + 12s);
  t.place(t0 + 12s);
  CAF_CHECK_EQUAL(holder(t, "p", t0 + 12s), "a"); // a's lease runs to t0 + 13 s
  t.place(t0 + 13s);
  auto grants = t.grants_of("b");
  CAF_REQUIRE_EQUAL(grants.size(), 1u);
  CAF_CHECK_GREATER(grants.at(0).epoch, epoch);
  CAF_CHECK(t.grants_of("a").empty());
}

CAF_TEST(without shared storage the profiles of a lost node wait for it) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.node_joined("b", offers({"p"}), t0);
  t.place(t0 + 2s);
  auto first = holder(t, "p", t0 + 2s);
  auto other = first == "a" ? "b" : "a";
  t.node_renewed(other, {}, t0 + 20s);
  t.place(t0 + 20s);
  CAF_CHECK(t.grants_of(other).empty());
  auto st = t.status(t0 + 20s);
  CAF_CHECK_EQUAL(st.at(0).state, profile_state::waiting);
  CAF_CHECK_EQUAL(st.at(0).last_error, "waiting for node " + first);
  // Back: it gets its profile again, under the same lease.
  t.node_renewed(first, {}, t0 + 21s);
  t.place(t0 + 21s);
  CAF_CHECK_EQUAL(t.grants_of(first).size(), 1u);
}

CAF_TEST(without shared storage a profile runs where its store already is) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  // b joins first and has less load, but the store of p (its device, its keys)
  // is on c, which joins later: p goes to c, and waits for c when c is lost.
  t.node_joined("b", offers({"p"}), t0);
  auto warnings = t.node_joined("c", {{"p", "", true}}, t0);
  CAF_CHECK(warnings.empty());
  t.place(t0 + 2s);
  CAF_CHECK(t.grants_of("b").empty());
  CAF_CHECK_EQUAL(t.grants_of("c").size(), 1u);
  t.node_renewed("b", {}, t0 + 20s);
  t.place(t0 + 20s);
  CAF_CHECK(t.grants_of("b").empty());
  auto st = t.status(t0 + 20s);
  CAF_CHECK_EQUAL(st.at(0).last_error, "waiting for node c");
  // A second node with a store of p is named in the log, and not used.
  warnings = t.node_joined("b", {{"p", "", true}}, t0 + 20s);
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK_NOT_EQUAL(warnings.at(0).find("node b also has a store of profile p"),
                      std::string::npos);
  t.place(t0 + 21s);
  CAF_CHECK(t.grants_of("b").empty());
}

CAF_TEST(with shared storage where a store was found does not matter) {
  cluster_table t{rules, t0};
  t.node_joined("b", offers({"p"}), t0);
  CAF_CHECK(t.node_joined("c", {{"p", "", true}, {"q", "", true}}, t0).empty());
  t.place(t0 + 2s);
  // Balanced by load: one each.
  CAF_CHECK_EQUAL(t.grants_of("b").size(), 1u);
  CAF_CHECK_EQUAL(t.grants_of("c").size(), 1u);
}

CAF_TEST(a profile is not granted while another live node still runs it) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.node_joined("b", offers({"p"}, "b"), t0); // the pin moves p to b
  t.node_renewed("a", {running("p")}, t0);    // a runs it (say, from before a restart)
  t.place(t0 + 2s);
  CAF_CHECK(t.grants_of("b").empty());
  t.node_renewed("a", {}, t0 + 3s);
  t.place(t0 + 3s);
  CAF_CHECK_EQUAL(t.grants_of("b").size(), 1u);
}

CAF_TEST(a node coming back gets load once the move is released) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p1", "p2", "p3"}), t0);
  t.place(t0 + 2s);
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 3u);
  t.node_joined("b", offers({"p1", "p2", "p3"}), t0 + 3s);
  t.node_renewed("a", {running("p1"), running("p2"), running("p3")}, t0 + 3s);
  t.place(t0 + 3s);
  // One profile is withdrawn from a (a stops it), none granted to b yet.
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 2u);
  CAF_CHECK(t.grants_of("b").empty());
  t.place(t0 + 4s); // a has not confirmed: still nothing moves twice
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 2u);
  std::vector<profile_status> still;
  for (auto& g : t.grants_of("a"))
    still.push_back(running(g.profile));
  t.node_renewed("a", still, t0 + 5s);
  t.node_renewed("b", {}, t0 + 5s);
  t.place(t0 + 5s);
  CAF_CHECK_EQUAL(t.grants_of("b").size(), 1u);
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 2u);
}

CAF_TEST(move withdraws a profile and places it on the named node) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p", "q"}), t0);
  t.place(t0 + 2s);
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 2u);
  t.node_joined("b", offers({"p", "q"}), t0 + 3s);
  CAF_CHECK_EQUAL(t.move("p", "nowhere", t0 + 3s), "node nowhere is not in the cluster or cannot serve p");
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 3s), "");
  CAF_CHECK_EQUAL(t.move("q", "b", t0 + 3s), "another move is under way; try again in a moment");
  t.node_renewed("a", {running("p"), running("q")}, t0 + 3s);
  t.place(t0 + 3s);
  CAF_CHECK(t.grants_of("b").empty()); // a still runs p
  t.node_renewed("a", {running("q")}, t0 + 4s);
  t.node_renewed("b", {}, t0 + 4s);
  t.place(t0 + 4s);
  auto grants = t.grants_of("b");
  CAF_REQUIRE_EQUAL(grants.size(), 1u);
  CAF_CHECK_EQUAL(grants.at(0).profile, "p");
}

CAF_TEST(a renewal sent before the node knew of its grant does not release the profile) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.place(t0 + 2s); // granted; a learns it with the reply to its next renewal
  t.node_joined("b", offers({"p"}), t0 + 2s);
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 2s), "");
  t.node_renewed("a", {}, t0 + 3s); // sent before a knew of p
  t.node_renewed("b", {}, t0 + 3s);
  t.place(t0 + 3s);
  CAF_CHECK(t.grants_of("b").empty());
  CAF_CHECK_EQUAL(t.drains_of("a").size(), 1u);
  t.node_renewed("a", {}, t0 + 4s); // a drained and stopped it
  t.place(t0 + 4s);
  CAF_CHECK_EQUAL(t.grants_of("b").size(), 1u);
}

CAF_TEST(move refuses a pinned profile) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}, "a"), t0);
  t.node_joined("b", offers({"p"}, "a"), t0);
  t.place(t0 + 2s);
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 2s), "p is pinned to node a (HERMES_MATRIX_NODE)");
}

CAF_TEST(a move drains the profile on its node first) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.place(t0 + 2s);
  t.node_joined("b", offers({"p"}), t0 + 2s);
  CAF_CHECK(t.drains_of("a").empty());
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 2s), "");
  CAF_CHECK(t.grants_of("a").empty());
  auto drains = t.drains_of("a");
  CAF_REQUIRE_EQUAL(drains.size(), 1u);
  CAF_CHECK_EQUAL(drains.at(0), "p");
  // Still running (draining): nothing is placed elsewhere.
  t.node_renewed("a", {running("p")}, t0 + 3s);
  t.place(t0 + 3s);
  CAF_CHECK(t.grants_of("b").empty());
  CAF_CHECK_EQUAL(t.drains_of("a").size(), 1u);
}

namespace {

/// p runs on a; b joined; storage not shared. Moves p to b and lets a stop it:
/// returns the carry order a gets.
store_order start_carry(cluster_table& t, clock_type::time_point t0) {
  t.node_joined("a", fixture::offers({"p", "q"}), t0);
  t.place(t0 + 2s);
  t.node_joined("b", fixture::offers({"p", "q"}), t0 + 2s);
  t.node_renewed("a", {fixture::running("p"), fixture::running("q")}, t0 + 2s);
  CAF_REQUIRE_EQUAL(t.move("p", "b", t0 + 2s), "");
  t.node_renewed("a", {fixture::running("q")}, t0 + 3s); // a drained and stopped p
  t.node_renewed("b", {}, t0 + 3s);
  t.place(t0 + 3s);
  auto orders = t.carries_of("a");
  CAF_REQUIRE_EQUAL(orders.size(), 1u);
  return orders.at(0);
}

} // namespace

CAF_TEST(without shared storage a move carries the store before the target gets the lease) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  auto order = start_carry(t, t0);
  CAF_CHECK_EQUAL(order.profile, "p");
  CAF_CHECK_EQUAL(order.to, "b");
  // Nobody holds p while its store travels; the status says so.
  CAF_CHECK(t.grants_of("b").empty());
  CAF_CHECK(t.carries_of("b").empty());
  auto st = t.status(t0 + 3s);
  CAF_CHECK_EQUAL(st.at(0).state, profile_state::waiting);
  CAF_CHECK_EQUAL(st.at(0).last_error, "its store is being carried from node a to node b");
  // Pieces are accepted only from the source, under the carry's epoch.
  CAF_CHECK_EQUAL(t.carry_target("p", order.epoch, "a"), "b");
  CAF_CHECK_EQUAL(t.carry_target("p", order.epoch, "b"), "");
  CAF_CHECK_EQUAL(t.carry_target("p", order.epoch + 1, "a"), "");
  CAF_CHECK_EQUAL(t.move("q", "b", t0 + 3s), "another move is under way; try again in a moment");
  t.place(t0 + 4s);
  CAF_CHECK(t.grants_of("b").empty());
  // The target verified the store: it holds p under the carry's epoch.
  CAF_CHECK(t.carried("p", order.epoch, t0 + 4s));
  auto grants = t.grants_of("b");
  CAF_REQUIRE_EQUAL(grants.size(), 1u);
  CAF_CHECK_EQUAL(grants.at(0).epoch, order.epoch);
  CAF_CHECK(t.carries_of("a").empty());
  CAF_CHECK(!t.carried("p", order.epoch, t0 + 4s));
  // The store is on b now: when b is lost, p waits for b, not for a.
  t.node_renewed("a", {running("q")}, t0 + 20s);
  t.place(t0 + 20s);
  CAF_CHECK(t.grants_of("a").size() == 1u && t.grants_of("a").at(0).profile == "q");
}

CAF_TEST(a failed carry leaves the profile with its store on the source) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  auto order = start_carry(t, t0);
  std::vector<std::string> events;
  t.carry_failed("p", order.epoch, "disk full", t0 + 4s, events);
  CAF_REQUIRE_EQUAL(events.size(), 1u);
  CAF_CHECK_EQUAL(events.at(0), "profile p: carrying its store to node b failed (disk full); "
                                "it stays with node a");
  CAF_CHECK(!t.carried("p", order.epoch, t0 + 4s)); // a late acknowledgement changes nothing
  t.place(t0 + 4s);
  CAF_CHECK(granted(t, "a", "p"));
  CAF_CHECK(!granted(t, "b", "p"));
}

CAF_TEST(a carry whose target is lost is given up) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  auto order = start_carry(t, t0);
  t.node_renewed("a", {running("q")}, t0 + 12s);
  auto events = t.place(t0 + 14s); // b renewed last at 3 s: lost at 13 s
  CAF_CHECK(std::any_of(events.begin(), events.end(), [](auto& e) {
    return e == "profile p: carrying its store to node b failed (node b is gone); it stays "
                "with node a";
  }));
  CAF_CHECK_EQUAL(t.grants_of("a").size(), 2u);
  CAF_CHECK(t.carry_target("p", order.epoch, "a").empty());
}

CAF_TEST(a carry not acknowledged in time is given up) {
  rules.shared_storage = false;
  rules.carry_limit = 5s;
  cluster_table t{rules, t0};
  start_carry(t, t0);
  t.node_renewed("a", {running("q")}, t0 + 8s);
  t.node_renewed("b", {}, t0 + 8s);
  t.place(t0 + 8s);
  CAF_CHECK(granted(t, "a", "p"));
  // Rebalancing does not try the same move again at once (it may move q).
  t.node_renewed("a", {running("p"), running("q")}, t0 + 9s);
  t.node_renewed("b", {}, t0 + 9s);
  t.place(t0 + 9s);
  auto drains = t.drains_of("a");
  CAF_CHECK(std::find(drains.begin(), drains.end(), "p") == drains.end());
}

CAF_TEST(without shared storage a node coming back gets load by carrying a store) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p1", "p2", "p3"}), t0);
  t.place(t0 + 2s);
  t.node_joined("b", offers({"p1", "p2", "p3"}), t0 + 3s);
  t.node_renewed("a", {running("p1"), running("p2"), running("p3")}, t0 + 3s);
  t.place(t0 + 3s);
  auto drains = t.drains_of("a");
  CAF_REQUIRE_EQUAL(drains.size(), 1u);
  std::vector<profile_status> still;
  for (auto& g : t.grants_of("a"))
    still.push_back(running(g.profile));
  t.node_renewed("a", still, t0 + 4s);
  t.node_renewed("b", {}, t0 + 4s);
  t.place(t0 + 4s);
  auto orders = t.carries_of("a");
  CAF_REQUIRE_EQUAL(orders.size(), 1u);
  CAF_CHECK_EQUAL(orders.at(0).profile, drains.at(0));
  CAF_CHECK(t.carried(drains.at(0), orders.at(0).epoch, t0 + 5s));
  CAF_CHECK_EQUAL(t.grants_of("b").size(), 1u);
}

CAF_TEST(a move refuses when the store is on a node that is gone) {
  rules.shared_storage = false;
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}), t0);
  t.place(t0 + 2s);
  t.node_joined("b", offers({"p"}), t0 + 15s);
  t.place(t0 + 15s); // a lost: p waits for it
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 15s),
                  "its store is on node a, which is not in the cluster");
}

CAF_TEST_FIXTURE_SCOPE_END()
