#include "actors/cell/sync.hpp"

#include "store/profile_store.hpp"
#include "matrix/backoff.hpp"
#include "matrix/client_api.hpp"
#include "matrix/sync.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <random>

namespace hm {

namespace {

using namespace std::chrono_literals;

/// How long the server may hold a /sync open.
constexpr auto poll_timeout = std::chrono::milliseconds{30'000};

/// The cell's context (link, store, user, log, metrics, cell) and the sync's own state.
struct sync_state : cell_context {
  std::string filter_id;
  std::optional<std::string> since;
  matrix::backoff backoff{1s, 60s};
  std::minstd_rand random{std::random_device{}()};
  uint64_t next_call = 1;
  static inline const char* name = "sync";
};

using sync_pointer = sync_actor::stateful_pointer<sync_state>;

/// Polls again after the delay the error asks for (Retry-After) or the backoff's.
void retry_later(sync_pointer self, const matrix::matrix_error& err) {
  auto& st = self->state;
  auto wait = err.retry_after ? *err.retry_after : st.backoff.next_with(st.random);
  st.log->warn("sync failed ({}); retrying in {} ms", matrix::to_string(err), wait.count());
  self->delayed_send(self, wait, atom::internal_v, atom::poll_v);
}

/// Acts on a failed request: retry, start over, or end the cell.
void on_error(sync_pointer self, const matrix::matrix_error& err) {
  auto& st = self->state;
  switch (matrix::classify(err)) {
    case matrix::error_action::stop_profile:
      st.log->error("the homeserver rejected the access token ({}); this profile stops",
                    matrix::to_string(err));
      self->quit(make_error(errc::unauthorized,
                            "the homeserver rejected MATRIX_ACCESS_TOKEN ("
                              + err.errcode + "); log in again and put the new token in .env"));
      return;
    case matrix::error_action::restart_sync:
      st.log->warn("the homeserver forgot our sync position ({}); starting over without "
                   "replaying",
                   matrix::to_string(err));
      st.since.reset();
      self->send(self, atom::internal_v, atom::poll_v);
      return;
    case matrix::error_action::fail_request:
      // A 4xx on /sync with a cursor is a cursor the server no longer accepts
      // (Synapse answers an unknown token with 400 M_UNKNOWN): start over.
      if (st.since && err.http_status >= 400 && err.http_status < 500) {
        st.log->warn("the homeserver refused our sync position ({}); starting over",
                     matrix::to_string(err));
        st.since.reset();
        self->send(self, atom::internal_v, atom::poll_v);
        return;
      }
      retry_later(self, err);
      return;
    case matrix::error_action::retry:
      retry_later(self, err);
      return;
  }
}

/// The result label of a /sync request that failed (metrics/families.hpp).
std::string_view failure_result(const http_result& res) {
  if (res.status == 0)
    return "network_error";
  if (res.status == 429)
    return "rate_limited";
  return res.status >= 500 ? "server_error" : "client_error";
}

/// Which requests `call` counts as /sync requests in the metrics.
enum class counted { no, as_sync };

/// Performs `req`; a 2xx answer goes through `parse` (http_result ->
/// matrix::result<T>) to `on_value`, every failure to on_error (retry, start
/// over, or end the cell).
template <class Parse, class OnValue>
void call(sync_pointer self, const matrix::http_request& req, Parse parse, OnValue on_value,
          counted count = counted::no) {
  auto& st = self->state;
  auto sent = std::chrono::steady_clock::now();
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, parse, on_value, count, sent](const http_result& res) mutable {
      auto measure = [&](std::string_view result) {
        if (count == counted::as_sync)
          self->state.metrics->sync_request(result, std::chrono::steady_clock::now() - sent);
      };
      if (!succeeded(res)) {
        measure(failure_result(res));
        on_error(self, to_matrix_error(res));
        return;
      }
      auto parsed = parse(res);
      if (!parsed) {
        measure("bad_response");
        on_error(self, parsed.error());
        return;
      }
      measure("ok");
      on_value(std::move(parsed).value());
    });
}

/// Counts the events a batch brings, by type (after gaps are filled: what the profile
/// actor gets).
void count_events(metrics::profile_metrics& m, const matrix::sync_response& resp) {
  for (auto& [room_id, joined] : resp.join)
    for (auto& ev : joined.timeline.events)
      m.event_received(ev.type);
  if (!resp.to_device.empty())
    m.event_received("to_device", resp.to_device.size());
  if (!resp.invite.empty())
    m.event_received("invite", resp.invite.size());
}

void create_filter(sync_pointer self) {
  auto& st = self->state;
  call(
    self, matrix::create_filter_request(st.user_id, matrix::bot_sync_filter()),
    [](const http_result& res) { return matrix::parse_create_filter(to_matrix_response(res)); },
    [self](std::string id) {
      auto& state = self->state;
      state.filter_id = std::move(id);
      if (auto written = state.store->put("filter_id", state.filter_id); !written) {
        self->quit(
          make_error(errc::store_failed, "cannot write the store: " + written.error().message));
        return;
      }
      self->send(self, atom::internal_v, atom::poll_v);
    });
}

/// Most events fetched to fill one room's gap; a longer absence answers the
/// latest ones and says so in the log.
constexpr size_t max_gap_events = 1000;

void deliver(sync_pointer self, std::shared_ptr<matrix::sync_response> resp) {
  auto& st = self->state;
  std::shared_ptr<const matrix::sync_response> batch = std::move(resp);
  bool initial = !st.since;
  count_events(*st.metrics, *batch);
  // The cell replies once the batch and its cursor are committed; only then
  // is it safe to ask for what comes after.
  self->request(st.cell, caf::infinite, sync_batch{batch, initial})
    .then([self, next_batch = batch->next_batch](atom::ok) {
      self->state.since = next_batch;
      self->state.backoff.reset();
      self->send(self, atom::internal_v, atom::poll_v);
    });
}

/// A `limited` timeline means the server left out events between our cursor
/// and the ones it sent. They are fetched with /messages (from the timeline's
/// prev_batch back to our cursor) and put in front, so that nothing sent while
/// the profile was away or busy goes unanswered. Rooms are filled one after
/// the other; `found` collects the current room's events, newest first.
void fill_gaps(sync_pointer self, std::shared_ptr<matrix::sync_response> resp,
               std::vector<std::string> rooms, std::string from,
               std::vector<matrix::room_event> found) {
  auto& st = self->state;
  if (rooms.empty()) {
    deliver(self, std::move(resp));
    return;
  }
  // A failure admits nothing: the next attempt syncs from the same cursor.
  call(
    self, matrix::messages_before_request(rooms.back(), from, *st.since, 100),
    [](const http_result& res) { return matrix::parse_messages(to_matrix_response(res)); },
    [self, resp, rooms, found](matrix::messages_page page) mutable {
      auto& state = self->state;
      bool more = page.end && !page.chunk.empty();
      for (auto& ev : page.chunk)
        found.push_back(std::move(ev));
      auto& room_id = rooms.back();
      if (more && found.size() < max_gap_events) {
        fill_gaps(self, std::move(resp), std::move(rooms), *page.end, std::move(found));
        return;
      }
      if (more)
        state.log->warn("more than {} events in {} arrived while this profile was away; "
                        "the older ones are not answered",
                        max_gap_events, room_id);
      auto& timeline = resp->join[room_id].timeline.events;
      timeline.insert(timeline.begin(), std::make_move_iterator(found.rbegin()),
                      std::make_move_iterator(found.rend()));
      state.log->info("fetched {} event(s) of {} that the sync left out", found.size(), room_id);
      rooms.pop_back();
      std::string next_from;
      if (!rooms.empty())
        next_from = *resp->join[rooms.back()].timeline.prev_batch;
      fill_gaps(self, std::move(resp), std::move(rooms), std::move(next_from), {});
    });
}

void poll(sync_pointer self) {
  auto& st = self->state;
  if (st.filter_id.empty()) {
    create_filter(self);
    return;
  }
  matrix::sync_options opts;
  opts.since = st.since;
  opts.filter = st.filter_id;
  // The first sync returns at once: there is nothing to wait for.
  opts.timeout = st.since ? poll_timeout : std::chrono::milliseconds{0};
  call(
    self, matrix::sync_request(opts),
    [](const http_result& res) { return matrix::parse_sync(std::string_view{res.body}); },
    [self](matrix::sync_response parsed) {
      auto& state = self->state;
      for (auto& skipped : parsed.skipped)
        state.log->warn("skipped a malformed item of /sync at {}: {}", skipped.where,
                        skipped.reason);
      auto resp = std::make_shared<matrix::sync_response>(std::move(parsed));
      // The first sync is history: its gaps do not matter.
      std::vector<std::string> gaps;
      if (state.since)
        for (auto& [room_id, joined] : resp->join)
          if (joined.timeline.limited && joined.timeline.prev_batch)
            gaps.push_back(room_id);
      if (gaps.empty()) {
        deliver(self, std::move(resp));
        return;
      }
      auto from = *resp->join[gaps.back()].timeline.prev_batch;
      fill_gaps(self, std::move(resp), std::move(gaps), std::move(from), {});
    },
    counted::as_sync);
}

sync_actor::behavior_type sync_behavior(sync_pointer self, cell_context ctx) {
  auto& st = self->state;
  static_cast<cell_context&>(st) = std::move(ctx);
  st.filter_id = st.store->get("filter_id").value_or("");
  st.since = st.store->get("next_batch");
  self->send(self, atom::internal_v, atom::poll_v);
  return {
    [self](atom::internal, atom::poll) { poll(self); },
  };
}

} // namespace

sync_actor spawn_sync(caf::local_actor* cell_self, const cell_context& ctx) {
  return cell_self->spawn<caf::linked>(sync_behavior, ctx);
}

} // namespace hm
