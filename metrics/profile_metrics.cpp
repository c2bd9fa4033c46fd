#include "metrics/profile_metrics.hpp"

#include "metrics/node_metrics.hpp"

namespace hm::metrics {

namespace {

using prometheus::Histogram;

// Buckets in seconds. A /sync long-poll waits up to 30 s when nothing happens.
const Histogram::BucketBoundaries sync_buckets{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60};
// A whole agent turn: a quick answer, tool use, long research.
const Histogram::BucketBoundaries agent_buckets{0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
const Histogram::BucketBoundaries first_token_buckets{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

template <class T, size_t N>
labelled<T> series_by(prometheus::Family<T>& family, const std::string& profile,
                      std::string_view label, const std::array<std::string_view, N>& values) {
  labelled<T> result;
  for (auto value : values)
    result.add(value, &family.Add({{"profile", profile},
                                   {std::string{label}, std::string{value}}}));
  return result;
}

} // namespace

profile_metrics::profile_metrics(node_metrics& node, const std::string& profile)
  : registry_(node.registry()), profile_(profile) {
  const prometheus::Labels p{{"profile", profile}};
  up_ = &node.gauge(profile_up).Add(p);
  state_ = series_by(node.gauge(profile_state), profile, profile_state.label, state_values);
  restarts_ = &node.counter(profile_restarts).Add(p);
  sync_requests_ = series_by(node.counter(sync_requests), profile, sync_requests.label,
                             sync_result_values);
  sync_duration_ = &node.histogram(sync_duration).Add(p, sync_buckets);
  events_received_ = series_by(node.counter(events_received), profile, events_received.label,
                               event_type_values);
  answered_ = &node.counter(messages_answered).Add(p);
  ignored_ = series_by(node.counter(messages_ignored), profile, messages_ignored.label,
                       ignore_reason_values);
  failed_ = &node.counter(messages_failed).Add(p);
  journal_backlog_ = &node.gauge(journal_backlog).Add(p);
  agent_duration_ = &node.histogram(agent_request_duration).Add(p, agent_buckets);
  agent_first_token_ = &node.histogram(hm::metrics::agent_first_token).Add(p, first_token_buckets);
  agent_errors_ = series_by(node.counter(agent_errors), profile, agent_errors.label,
                            agent_error_values);
  media_in_ = series_by(node.counter(metrics::media_in), profile, metrics::media_in.label,
                        media_in_values);
  media_out_ = series_by(node.counter(metrics::media_out), profile, metrics::media_out.label,
                         media_out_values);
  outbox_depth_ = &node.gauge(outbox_queue_depth).Add(p);
  outbox_sends_ = series_by(node.counter(outbox_sends), profile, outbox_sends.label,
                            send_result_values);
  rate_limit_wait_ = &node.counter(outbox_rate_limit_wait).Add(p);
  decryption_failures_ = series_by(node.counter(decryption_failures), profile,
                                   decryption_failures.label, decryption_reason_values);
  parked_ = &node.gauge(parked_events).Add(p);
  one_time_keys_ = &node.gauge(one_time_keys).Add(p);
  megolm_sessions_ = series_by(node.gauge(megolm_sessions), profile, megolm_sessions.label,
                               megolm_direction_values);
  key_shares_ = series_by(node.counter(room_key_shares), profile, room_key_shares.label,
                          key_share_direction_values);
  key_backup_ = series_by(node.counter(metrics::key_backup_sessions), profile,
                          metrics::key_backup_sessions.label,
                          key_backup_result_values);
}

void profile_metrics::set_state(std::string_view state) {
  for (auto value : state_values)
    state_[value].Set(value == state ? 1 : 0);
  up_->Set(state == "running" ? 1 : 0);
}

void profile_metrics::restarted() { restarts_->Increment(); }

void profile_metrics::sync_request(std::string_view result, duration took) {
  sync_requests_[result].Increment();
  sync_duration_->Observe(took.count());
}

void profile_metrics::event_received(std::string_view type, uint64_t n) {
  events_received_[type].Increment(static_cast<double>(n));
}

void profile_metrics::message_answered() { answered_->Increment(); }

void profile_metrics::message_ignored(std::string_view reason) { ignored_[reason].Increment(); }

void profile_metrics::message_failed() { failed_->Increment(); }

void profile_metrics::set_journal_backlog(int64_t entries) {
  journal_backlog_->Set(static_cast<double>(entries));
}

void profile_metrics::agent_request(duration took) { agent_duration_->Observe(took.count()); }

void profile_metrics::agent_first_token(duration took) {
  agent_first_token_->Observe(took.count());
}

void profile_metrics::agent_error(std::string_view kind) { agent_errors_[kind].Increment(); }
void profile_metrics::media_in(std::string_view result) { media_in_[result].Increment(); }
void profile_metrics::media_out(std::string_view result) { media_out_[result].Increment(); }

void profile_metrics::set_outbox_depth(int64_t sends) {
  outbox_depth_->Set(static_cast<double>(sends));
}

void profile_metrics::outbox_send(std::string_view result) { outbox_sends_[result].Increment(); }

void profile_metrics::outbox_rate_limited(duration wait) {
  outbox_sends_["rate_limited"].Increment();
  rate_limit_wait_->Increment(wait.count());
}

void profile_metrics::decryption_failed(std::string_view reason) {
  decryption_failures_[reason].Increment();
}

void profile_metrics::set_parked_events(int64_t events) {
  parked_->Set(static_cast<double>(events));
}

void profile_metrics::set_one_time_keys(int64_t keys) {
  one_time_keys_->Set(static_cast<double>(keys));
}

void profile_metrics::set_megolm_sessions(int64_t inbound, int64_t outbound) {
  megolm_sessions_["inbound"].Set(static_cast<double>(inbound));
  megolm_sessions_["outbound"].Set(static_cast<double>(outbound));
}

void profile_metrics::room_keys_sent(uint64_t devices) {
  key_shares_["sent"].Increment(static_cast<double>(devices));
}

void profile_metrics::room_keys_received(uint64_t keys) {
  key_shares_["received"].Increment(static_cast<double>(keys));
}

void profile_metrics::key_backup_sessions(std::string_view result, uint64_t sessions) {
  key_backup_[result].Increment(static_cast<double>(sessions));
}

} // namespace hm::metrics
