#define CAF_SUITE families

#include "metrics/families.hpp"
#include "metrics/node_metrics.hpp"
#include "scrape.hpp"

#include "caf/test/dsl.hpp"

#include <set>
#include <string>

using namespace hm::metrics;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

CAF_TEST(every family is registered with its help text and type) {
  node_metrics node;
  // A scrape shows a family once it has a series: a profile gives it them all.
  (void) node.profile("coder");
  for (auto& f : all_families) {
    auto got = test::family(*node.registry(), std::string{f.name});
    CAF_REQUIRE(got.has_value());
    CAF_CHECK_EQUAL(got->help, std::string{f.help});
    auto expected = f.type == family_type::counter ? prometheus::MetricType::Counter
                    : f.type == family_type::gauge ? prometheus::MetricType::Gauge
                                                   : prometheus::MetricType::Histogram;
    CAF_CHECK(got->type == expected);
  }
}

CAF_TEST(names follow the Prometheus conventions and are unique) {
  std::set<std::string_view> names;
  for (auto& f : all_families) {
    CAF_MESSAGE(f.name);
    CAF_CHECK(f.name.substr(0, 14) == "hermes_matrix_");
    CAF_CHECK(names.insert(f.name).second);
    CAF_CHECK(!f.help.empty());
    switch (f.type) {
      case family_type::counter:
        CAF_CHECK(ends_with(f.name, "_total"));
        break;
      case family_type::histogram:
        CAF_CHECK(ends_with(f.name, "_seconds"));
        break;
      case family_type::gauge:
        CAF_CHECK(!ends_with(f.name, "_total"));
        break;
    }
    // Only names of bounded things: never a room, a user or a message.
    CAF_CHECK(f.label != "room" && f.label != "room_id" && f.label != "user"
              && f.label != "user_id" && f.label != "sender");
  }
  CAF_CHECK_EQUAL(names.size(), 24u);
}

CAF_TEST(the families the issue lists exist under their names) {
  std::set<std::string_view> names;
  for (auto& f : all_families)
    names.insert(f.name);
  for (auto name : {"hermes_matrix_profile_up", "hermes_matrix_profile_state",
                    "hermes_matrix_profile_restarts_total", "hermes_matrix_sync_requests_total",
                    "hermes_matrix_sync_duration_seconds", "hermes_matrix_events_received_total",
                    "hermes_matrix_messages_answered_total",
                    "hermes_matrix_messages_ignored_total", "hermes_matrix_messages_failed_total",
                    "hermes_matrix_agent_request_duration_seconds",
                    "hermes_matrix_agent_time_to_first_token_seconds",
                    "hermes_matrix_agent_errors_total", "hermes_matrix_outbox_queue_depth",
                    "hermes_matrix_outbox_sends_total",
                    "hermes_matrix_outbox_rate_limit_wait_seconds_total",
                    "hermes_matrix_decryption_failures_total",
                    "hermes_matrix_crypto_parked_events", "hermes_matrix_crypto_one_time_keys",
                    "hermes_matrix_crypto_megolm_sessions",
                    "hermes_matrix_crypto_room_key_shares_total",
                    "hermes_matrix_crypto_key_backup_sessions_total",
                    "hermes_matrix_journal_backlog", "hermes_matrix_media_in_total",
                    "hermes_matrix_media_out_total"}) {
    CAF_MESSAGE(name);
    CAF_CHECK(names.count(name) == 1);
  }
}
