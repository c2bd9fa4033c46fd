#pragma once

// The metrics of one profile: a handle its cell creates (node_metrics::profile) and
// passes to its children. Every method is thread-safe and cheap (an atomic update of
// a series created up front), so actors call it inline, from any thread.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace hm::metrics {

class node_metrics;

/// One family's series of one profile, by the value of its second label; a value not
/// in the family's list lands on "other". Filled once by the constructor, then only read.
template <class T>
class labelled {
public:
  void add(std::string_view value, T* series) { by_value_.emplace(value, series); }
  [[nodiscard]] T& operator[](std::string_view value) const;

private:
  std::map<std::string_view, T*, std::less<>> by_value_;
};

class profile_metrics {
public:
  using duration = std::chrono::duration<double>;

  /// Creates (or finds) every series of `profile` in `node`'s registry.
  profile_metrics(node_metrics& node, const std::string& profile);

  [[nodiscard]] const std::string& profile() const { return profile_; }

  // -- supervisor
  /// The profile is now in `state` (profile_state's names); up is 1 only for "running".
  void set_state(std::string_view state);
  void restarted();

  // -- sync actor
  /// One /sync request ended with `result` (sync_result_values) after `took`.
  void sync_request(std::string_view result, duration took);
  void event_received(std::string_view type, uint64_t n = 1);

  // -- profile actor
  void message_answered();
  void message_ignored(std::string_view reason);
  void message_failed();
  void set_journal_backlog(int64_t entries);

  // -- agent sessions
  void agent_request(duration took);
  void agent_first_token(duration took);
  void agent_error(std::string_view kind);

  // -- media (thread-safe: the media actors have threads of their own)
  void media_in(std::string_view result);
  void media_out(std::string_view result);

  // -- outbox
  void set_outbox_depth(int64_t sends);
  void outbox_send(std::string_view result);
  void outbox_rate_limited(duration wait);

  // -- crypto actor
  void decryption_failed(std::string_view reason);
  void set_parked_events(int64_t events);
  void set_one_time_keys(int64_t keys);
  void set_megolm_sessions(int64_t inbound, int64_t outbound);
  void room_keys_sent(uint64_t devices);
  void room_keys_received(uint64_t keys);
  /// Megolm sessions uploaded to, imported from, or unusable in the key backup
  /// (`result`: one of key_backup_result_values).
  void key_backup_sessions(std::string_view result, uint64_t sessions);

private:
  std::shared_ptr<prometheus::Registry> registry_; // keeps the series alive
  std::string profile_;
  prometheus::Gauge* up_;
  labelled<prometheus::Gauge> state_;
  prometheus::Counter* restarts_;
  labelled<prometheus::Counter> sync_requests_;
  prometheus::Histogram* sync_duration_;
  labelled<prometheus::Counter> events_received_;
  prometheus::Counter* answered_;
  labelled<prometheus::Counter> ignored_;
  prometheus::Counter* failed_;
  prometheus::Gauge* journal_backlog_;
  prometheus::Histogram* agent_duration_;
  prometheus::Histogram* agent_first_token_;
  labelled<prometheus::Counter> agent_errors_;
  labelled<prometheus::Counter> media_in_;
  labelled<prometheus::Counter> media_out_;
  prometheus::Gauge* outbox_depth_;
  labelled<prometheus::Counter> outbox_sends_;
  prometheus::Counter* rate_limit_wait_;
  labelled<prometheus::Counter> decryption_failures_;
  prometheus::Gauge* parked_;
  prometheus::Gauge* one_time_keys_;
  labelled<prometheus::Gauge> megolm_sessions_;
  labelled<prometheus::Counter> key_shares_;
  labelled<prometheus::Counter> key_backup_;
};

template <class T>
T& labelled<T>::operator[](std::string_view value) const {
  if (auto i = by_value_.find(value); i != by_value_.end())
    return *i->second;
  if (auto i = by_value_.find(std::string_view{"other"}); i != by_value_.end())
    return *i->second;
  return *by_value_.begin()->second; // closed lists: only the handle's own values reach here
}

} // namespace hm::metrics
