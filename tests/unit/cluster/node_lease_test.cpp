#define CAF_SUITE cluster_node_lease

#include "cluster/node_lease.hpp"

#include "etcd_answer_fixture.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm;
using namespace std::chrono_literals;
using hm::test::recorded;

namespace {

using clock_type = node_lease::clock;

// TTL 10 s as in the recorded answers, a 2 s margin: valid for 8 s after a send.
struct fixture {
  clock_type::time_point t0 = clock_type::now();
  node_lease lease{node_lease::settings{10s, 2000ms}};
  test::recorded_answer grant = recorded("lease_grant");
  test::recorded_answer kept = recorded("lease_keepalive");
  test::recorded_answer expired = recorded("lease_keepalive_expired");
  etcd::answer refused{0, "", "Connection refused"};

  /// Starts and answers the grant at t0 (sent at t0).
  node_lease::step granted() {
    auto s = lease.start(t0);
    return lease.on_answer(*s.send, t0, grant.view(), t0 + 5ms);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(node_lease_tests, fixture)

CAF_TEST(a grant makes the lease live until TTL less the margin after its send) {
  auto s = lease.start(t0);
  CAF_REQUIRE(s.send.has_value());
  CAF_CHECK(s.send->what == node_lease::call::kind::grant);
  CAF_CHECK_EQUAL(s.send->request.path, "/v3/lease/grant");
  CAF_CHECK(lease.current() == node_lease::phase::granting);
  CAF_CHECK(!lease.live(t0));
  auto g = lease.on_answer(*s.send, t0, grant.view(), t0 + 5ms);
  CAF_CHECK(g.granted);
  CAF_CHECK(!g.send.has_value());
  CAF_CHECK_EQUAL(lease.id(), test::recorded_lease_id());
  CAF_CHECK(lease.live(t0 + 7999ms));
  CAF_CHECK(!lease.live(t0 + 8s));
  // The next keepalive is due a third of the TTL after the grant was sent.
  CAF_REQUIRE(g.wake_at.has_value());
  CAF_CHECK(*g.wake_at == t0 + 3333ms);
}

CAF_TEST(keepalives go every third of the TTL and count from their send time) {
  granted();
  auto early = lease.tick(t0 + 3s);
  CAF_CHECK(!early.send.has_value());
  auto due = lease.tick(t0 + 3333ms);
  CAF_REQUIRE(due.send.has_value());
  CAF_CHECK(due.send->what == node_lease::call::kind::keepalive);
  CAF_CHECK_EQUAL(due.send->request.path, "/v3/lease/keepalive");
  // Answered 1.5 s after it was sent: validity still counts from the send.
  auto s = lease.on_answer(*due.send, t0 + 3333ms, kept.view(), t0 + 4833ms);
  CAF_CHECK(!s.lost);
  CAF_CHECK(lease.valid_until() == t0 + 3333ms + 8s);
  CAF_CHECK(lease.live(t0 + 11s));
  auto next = lease.tick(t0 + 6666ms);
  CAF_CHECK(next.send.has_value());
}

CAF_TEST(no answered keepalive means lost by the local clock before etcd can expire it) {
  granted();
  auto t = t0 + 3333ms;
  auto s = lease.tick(t);
  bool lost = false;
  auto lost_at = t;
  // Every keepalive fails on every member; the machine keeps trying until time is up.
  while (t < t0 + 20s && !lost) {
    if (s.send && s.send->what == node_lease::call::kind::keepalive)
      s = lease.on_answer(*s.send, t, refused, t + 10ms);
    if (s.lost) {
      lost = true;
      lost_at = t;
      break;
    }
    CAF_REQUIRE(s.wake_at.has_value());
    t = std::max(*s.wake_at, t + 10ms);
    s = lease.tick(t);
    if (s.lost) {
      lost = true;
      lost_at = t;
    }
  }
  CAF_REQUIRE(lost);
  // Lost at 8 s (TTL 10 s less 2 s) after the grant's send; etcd keeps it until >= 10 s.
  CAF_CHECK(lost_at >= t0 + 8s);
  CAF_CHECK(lost_at < t0 + 8s + 50ms);
  CAF_CHECK(!lease.live(lost_at));
  CAF_CHECK_EQUAL(lease.id(), 0);
  CAF_CHECK_EQUAL(s.lost_lease, test::recorded_lease_id());
  // A new grant follows at once.
  CAF_REQUIRE(s.send.has_value());
  CAF_CHECK(s.send->what == node_lease::call::kind::grant);
  CAF_CHECK(!s.why.empty());
}

CAF_TEST(a keepalive answered with no TTL means the lease is gone) {
  granted();
  auto due = lease.tick(t0 + 3333ms);
  CAF_REQUIRE(due.send.has_value());
  auto s = lease.on_answer(*due.send, t0 + 3333ms, expired.view(), t0 + 3400ms);
  CAF_CHECK(s.lost);
  CAF_CHECK(!lease.live(t0 + 3400ms));
  CAF_REQUIRE(s.send.has_value());
  CAF_CHECK(s.send->what == node_lease::call::kind::grant);
  // The late answer of the old lease's keepalive changes nothing now.
  auto late = lease.on_answer(*due.send, t0 + 3333ms, kept.view(), t0 + 3500ms);
  CAF_CHECK(!late.lost);
  CAF_CHECK(lease.current() == node_lease::phase::granting);
}

CAF_TEST(an unanswered request is sent again once every member could have timed out) {
  granted();
  auto due = lease.tick(t0 + 3333ms);
  CAF_REQUIRE(due.send.has_value());
  CAF_CHECK(lease.request_timeout() == 1111ms);
  CAF_CHECK(lease.unanswered_after() == 3 * 1111ms + 100ms);
  auto waiting = lease.tick(t0 + 3333ms + lease.unanswered_after() - 1ms);
  CAF_CHECK(!waiting.send.has_value());
  auto again = lease.tick(t0 + 3333ms + lease.unanswered_after());
  CAF_REQUIRE(again.send.has_value());
  CAF_CHECK(again.send->what == node_lease::call::kind::keepalive);
}

CAF_TEST(a failed grant is tried again and nothing runs meanwhile) {
  auto s = lease.start(t0);
  auto failed = lease.on_answer(*s.send, t0, recorded("no_quorum_grant").view(), t0 + 1s);
  CAF_CHECK(!failed.granted);
  CAF_CHECK(failed.why.find("unavailable") != std::string::npos);
  CAF_CHECK(!lease.live(t0 + 1s));
  CAF_REQUIRE(failed.wake_at.has_value());
  auto retry = lease.tick(*failed.wake_at);
  CAF_REQUIRE(retry.send.has_value());
  CAF_CHECK(retry.send->what == node_lease::call::kind::grant);
}

CAF_TEST(revoking ends the lease at once) {
  granted();
  auto s = lease.revoke(t0 + 1s);
  CAF_REQUIRE(s.send.has_value());
  CAF_CHECK(s.send->what == node_lease::call::kind::revoke);
  CAF_CHECK(!lease.live(t0 + 1s));
  lease.on_answer(*s.send, t0 + 1s, recorded("lease_revoke").view(), t0 + 1010ms);
  CAF_CHECK(lease.current() == node_lease::phase::idle);
  CAF_CHECK_EQUAL(lease.id(), 0);
  CAF_CHECK(!lease.tick(t0 + 5s).send.has_value());
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(unusable settings are clamped and said) {
  node_lease short_ttl{node_lease::settings{1s, 100ms}};
  CAF_CHECK(short_ttl.config().ttl == 2s);
  CAF_CHECK(!short_ttl.settings_problem().empty());
  node_lease big_margin{node_lease::settings{6s, 4000ms}};
  CAF_CHECK(big_margin.config().margin == 1500ms);
  node_lease fine{node_lease::settings{15s, 3000ms}};
  CAF_CHECK(fine.settings_problem().empty());
  CAF_CHECK(fine.request_timeout() == 1666ms);
}
