#define CAF_SUITE profile_metrics

#include "metrics/node_metrics.hpp"
#include "metrics/profile_metrics.hpp"
#include "scrape.hpp"

#include "caf/test/dsl.hpp"

#include <chrono>
#include <thread>
#include <vector>

using namespace hm::metrics;
using namespace std::chrono_literals;
using test::value;

namespace {

struct fixture {
  node_metrics node;
  std::shared_ptr<profile_metrics> coder = node.profile("coder");
  const prometheus::Registry& reg = *node.registry();
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(profile_metrics_tests, fixture)

CAF_TEST(a new profile has every series at zero) {
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_up", {{"profile", "coder"}}), 0);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_messages_answered_total", {{"profile", "coder"}}), 0);
  for (auto reason : ignore_reason_values)
    CAF_CHECK_EQUAL(value(reg, "hermes_matrix_messages_ignored_total",
                          {{"profile", "coder"}, {"reason", std::string{reason}}}),
                    0);
  for (auto result : sync_result_values)
    CAF_CHECK_EQUAL(value(reg, "hermes_matrix_sync_requests_total",
                          {{"profile", "coder"}, {"result", std::string{result}}}),
                    0);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_megolm_sessions",
                        {{"profile", "coder"}, {"direction", "inbound"}}),
                  0);
}

CAF_TEST(the same profile gets the same handle and another profile its own series) {
  CAF_CHECK_EQUAL(node.profile("coder"), coder);
  auto other = node.profile("academic_researcher");
  CAF_CHECK_NOT_EQUAL(other, coder);
  other->message_answered();
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_messages_answered_total",
                        {{"profile", "academic_researcher"}}),
                  1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_messages_answered_total", {{"profile", "coder"}}), 0);
}

CAF_TEST(state sets exactly one state series and up only while running) {
  coder->set_state("running");
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_up", {{"profile", "coder"}}), 1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_state",
                        {{"profile", "coder"}, {"state", "running"}}),
                  1);
  coder->set_state("backoff");
  coder->restarted();
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_up", {{"profile", "coder"}}), 0);
  for (auto state : state_values)
    CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_state",
                          {{"profile", "coder"}, {"state", std::string{state}}}),
                    state == "backoff" ? 1 : 0);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_profile_restarts_total", {{"profile", "coder"}}), 1);
}

CAF_TEST(a labelled counter moves only its own series; unknown values count as other) {
  coder->message_ignored("not_mentioned");
  coder->message_ignored("not_mentioned");
  coder->message_ignored("!room:example.org"); // never a label value of its own
  auto ignored = [&](const char* reason) {
    return value(reg, "hermes_matrix_messages_ignored_total",
                 {{"profile", "coder"}, {"reason", reason}});
  };
  CAF_CHECK_EQUAL(ignored("not_mentioned"), 2);
  CAF_CHECK_EQUAL(ignored("sender_not_allowed"), 0);
  CAF_CHECK_EQUAL(ignored("other"), 1);
  CAF_CHECK(!test::series(reg, "hermes_matrix_messages_ignored_total",
                          {{"profile", "coder"}, {"reason", "!room:example.org"}}));
  coder->event_received("m.room.message", 3);
  coder->event_received("com.example.custom");
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_events_received_total",
                        {{"profile", "coder"}, {"type", "m.room.message"}}),
                  3);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_events_received_total",
                        {{"profile", "coder"}, {"type", "other"}}),
                  1);
}

CAF_TEST(durations go to their histograms in seconds) {
  coder->sync_request("ok", 2500ms);
  coder->sync_request("server_error", 100ms);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_sync_requests_total",
                        {{"profile", "coder"}, {"result", "ok"}}),
                  1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_sync_requests_total",
                        {{"profile", "coder"}, {"result", "server_error"}}),
                  1);
  auto sync = test::series(reg, "hermes_matrix_sync_duration_seconds", {{"profile", "coder"}});
  CAF_REQUIRE(sync.has_value());
  CAF_CHECK_EQUAL(sync->histogram.sample_count, 2u);
  CAF_CHECK_LESS(std::abs(sync->histogram.sample_sum - 2.6), 1e-9);
  coder->agent_first_token(300ms);
  coder->agent_request(4s);
  auto first = test::series(reg, "hermes_matrix_agent_time_to_first_token_seconds",
                            {{"profile", "coder"}});
  auto whole = test::series(reg, "hermes_matrix_agent_request_duration_seconds",
                            {{"profile", "coder"}});
  CAF_REQUIRE(first && whole);
  CAF_CHECK_EQUAL(first->histogram.sample_count, 1u);
  CAF_CHECK_LESS(std::abs(first->histogram.sample_sum - 0.3), 1e-9);
  CAF_CHECK_LESS(std::abs(whole->histogram.sample_sum - 4.0), 1e-9);
}

CAF_TEST(a 429 counts as a rate limited send and adds its wait) {
  coder->outbox_send("ok");
  coder->outbox_rate_limited(1500ms);
  coder->outbox_rate_limited(500ms);
  auto sends = [&](const char* result) {
    return value(reg, "hermes_matrix_outbox_sends_total",
                 {{"profile", "coder"}, {"result", result}});
  };
  CAF_CHECK_EQUAL(sends("ok"), 1);
  CAF_CHECK_EQUAL(sends("rate_limited"), 2);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_outbox_rate_limit_wait_seconds_total",
                        {{"profile", "coder"}}),
                  2.0);
  coder->set_outbox_depth(4);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_outbox_queue_depth", {{"profile", "coder"}}), 4);
}

CAF_TEST(crypto gauges and counters) {
  coder->decryption_failed("missing_key");
  coder->decryption_failed("replay");
  coder->set_parked_events(1);
  coder->set_one_time_keys(50);
  coder->set_megolm_sessions(3, 1);
  coder->room_keys_sent(2);
  coder->room_keys_received(1);
  coder->key_backup_sessions("backed_up", 3);
  coder->key_backup_sessions("restored", 2);
  auto p = [](const char* k, const char* v) {
    return test::label_set{{"profile", "coder"}, {k, v}};
  };
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_decryption_failures_total", p("reason", "missing_key")), 1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_decryption_failures_total", p("reason", "replay")), 1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_decryption_failures_total", p("reason", "olm")), 0);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_parked_events", {{"profile", "coder"}}), 1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_one_time_keys", {{"profile", "coder"}}), 50);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_megolm_sessions", p("direction", "inbound")), 3);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_megolm_sessions", p("direction", "outbound")), 1);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_room_key_shares_total", p("direction", "sent")), 2);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_crypto_room_key_shares_total", p("direction", "received")), 1);
  auto backup = [&](const char* result) {
    return value(reg, "hermes_matrix_crypto_key_backup_sessions_total", p("result", result));
  };
  CAF_CHECK_EQUAL(backup("backed_up"), 3);
  CAF_CHECK_EQUAL(backup("restored"), 2);
  CAF_CHECK_EQUAL(backup("skipped"), 0);
}

CAF_TEST(handles are safe to use from several threads at once) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([this] {
      for (int i = 0; i < 1000; ++i) {
        coder->message_answered();
        coder->agent_error("unreachable");
      }
    });
  for (auto& t : threads)
    t.join();
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_messages_answered_total", {{"profile", "coder"}}), 4000);
  CAF_CHECK_EQUAL(value(reg, "hermes_matrix_agent_errors_total",
                        {{"profile", "coder"}, {"kind", "unreachable"}}),
                  4000);
}

CAF_TEST_FIXTURE_SCOPE_END()
