#define CAF_SUITE cluster_table

#include "actors/cluster_table.hpp"

#include "caf/test/unit_test.hpp"

#include <algorithm>

using namespace hm;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

struct fixture {
  clock_type::time_point t0 = clock_type::now();
  cluster_rules rules;

  fixture() {
    rules.lease = 10s;
    rules.settle = 1s;
    rules.shared_storage = true;
  }

  static std::vector<profile_offer> offers(std::initializer_list<const char*> names,
                                           std::string pin_of_first = {}) {
    std::vector<profile_offer> out;
    for (auto* n : names)
      out.push_back({n, out.empty() ? pin_of_first : std::string{}});
    return out;
  }

  static std::string holder(const cluster_table& t, const std::string& profile,
                            clock_type::time_point now) {
    for (auto& st : t.status(now))
      if (st.profile == profile && st.state != profile_state::waiting)
        return st.node;
    return {};
  }

  static profile_status running(const std::string& profile) {
    profile_status st;
    st.profile = profile;
    st.state = profile_state::running;
    return st;
  }
};

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

CAF_TEST(move refuses a pinned profile and storage that is not shared) {
  cluster_table t{rules, t0};
  t.node_joined("a", offers({"p"}, "a"), t0);
  t.node_joined("b", offers({"p"}, "a"), t0);
  t.place(t0 + 2s);
  CAF_CHECK_EQUAL(t.move("p", "b", t0 + 2s), "p is pinned to node a (HERMES_MATRIX_NODE)");
  rules.shared_storage = false;
  cluster_table u{rules, t0};
  u.node_joined("a", offers({"p"}), t0);
  CAF_CHECK(u.move("p", "a", t0).find("--shared-storage") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
