#include "actors/cell/outbox.hpp"

#include "store/profile_store.hpp"
#include "matrix/backoff.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

namespace hm {

namespace {

using namespace std::chrono_literals;
using clock_type = caf::actor_clock::clock_type;
using time_point = caf::actor_clock::time_point;

/// Edits of one room go out at most this often (streamed replies would
/// otherwise be a message storm; the homeserver counts edits as messages).
constexpr auto edit_spacing = 1s;

struct room_queue {
  std::deque<outbox_entry> durable;               // in enqueue order
  std::map<std::string, progress_edit> progress;  // latest streaming edit per original txn
  bool in_flight = false;
  bool flush_scheduled = false;
  time_point not_before{};  // rate limit or backoff
  time_point last_edit{};
  matrix::backoff backoff{1s, 60s};
};

/// A streaming edit the homeserver confirmed (its content before the event id of the
/// original was filled in, as the session wrote it).
struct shown_edit {
  std::string content;
  std::string event_id;
};

/// At most this many messages' shown streaming edits are remembered: one per turn
/// being answered, more only for turns that ended without a final edit (a session
/// that crashed). Forgetting one costs at most a final edit sent again.
constexpr size_t shown_kept = 256;

/// The cell's context (link, store, user, log, metrics) and the outbox's own state.
struct outbox_state : cell_context {
  crypto_actor crypto; ///< invalid when the profile does no encryption
  std::map<std::string, room_queue> rooms;
  /// Originals whose final (durable) edit is queued or sent: later streaming
  /// edits for them are stale and must never overwrite the final text.
  std::set<std::string> finalized;
  /// Per original, the newest streaming edit the homeserver confirmed: what the room
  /// shows. A final edit with the same content is shown already and is not sent again.
  std::map<std::string, shown_edit> shown;
  uint64_t next_call = 1;
  uint64_t progress_counter = 0;
  std::minstd_rand random{std::random_device{}()};
  static inline const char* name = "outbox";
};

using outbox_pointer = outbox_actor::stateful_pointer<outbox_state>;

void pump(outbox_pointer self, const std::string& room_id);

/// Publishes how many durable sends wait (after every change of a room's queue).
void queue_changed(outbox_pointer self) {
  int64_t depth = 0;
  for (auto& [_, q] : self->state.rooms)
    depth += static_cast<int64_t>(q.durable.size());
  self->state.metrics->set_outbox_depth(depth);
}

/// Wakes the room up at `when` (once; a pending wake-up covers later ones).
void wake_at(outbox_pointer self, const std::string& room_id, room_queue& q, time_point when) {
  if (q.flush_scheduled)
    return;
  q.flush_scheduled = true;
  auto now = self->clock().now();
  auto wait = when > now ? std::chrono::duration_cast<caf::timespan>(when - now) : caf::timespan{0};
  self->delayed_send(self, wait, atom::internal_v, atom::flush_v, room_id);
}

/// Puts the event id of our original message into an edit's m.relates_to.
std::optional<std::string> with_original(const std::string& content, const std::string& event_id) {
  auto json = matrix::parse_bounded_json(content);
  if (!json || !json->is_object())
    return std::nullopt;
  (*json)["m.relates_to"]["event_id"] = event_id;
  return json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// What to send next in a room, if anything may go now.
struct next_send {
  std::string txn_id;
  std::string event_type;
  std::string content;
  bool durable = false;
  bool is_edit = false;
  std::string edit_of;      ///< a streaming edit: the txn of its original
  std::string edit_content; ///< a streaming edit: its content as queued
};

/// Why a send that depends on `txn` cannot go: what became of `txn`.
std::string what_became_of(const std::string& txn, const send_outcome& o) {
  switch (o.state) {
    case send_outcome::failed:
      return txn + " was refused (" + o.reason + ")";
    case send_outcome::pending:
      return txn + " is queued after it";
    case send_outcome::unknown:
    case send_outcome::sent:
      break;
  }
  return txn + " was never queued";
}

/// The final edit of `original` is out (or will never be): forget the message.
void final_resolved(outbox_pointer self, const std::string& original) {
  self->state.finalized.erase(original);
  self->state.shown.erase(original);
}

/// Takes the send at the front of the room's queue off it once the store knows what
/// became of it; a final edit that went out (or never will) resolves its message.
void pop_front(outbox_pointer self, room_queue& q) {
  auto& e = q.durable.front();
  if (!e.relates_txn.empty())
    final_resolved(self, e.relates_txn);
  q.durable.pop_front();
  queue_changed(self);
}

/// The send at the front reached the room as `event_id`. False when the store cannot
/// record it (the outbox has quit).
bool front_sent(outbox_pointer self, room_queue& q, std::string event_id) {
  if (auto written = self->state.store->mark_sent(q.durable.front().txn_id, event_id);
      !written) {
    self->quit(
      make_error(errc::store_failed, "cannot write the store: " + written.error().message));
    return false;
  }
  pop_front(self, q);
  return true;
}

/// Gives up the send at the front for good: marked failed with `why`, so that what
/// depends on it is given up too (a ✅ never goes out for a reply the room does not have).
void front_failed(outbox_pointer self, room_queue& q, const std::string& why) {
  (void) self->state.store->mark_failed(q.durable.front().txn_id, why);
  pop_front(self, q);
}

/// front_failed for a send the outbox itself will not make, logged and counted.
void drop_front(outbox_pointer self, const std::string& room_id, room_queue& q,
                const std::string& why) {
  auto& st = self->state;
  auto& e = q.durable.front();
  st.log->warn("not sending {} {} into {}: {}", e.event_type, e.txn_id, room_id, why);
  st.metrics->outbox_send("refused");
  front_failed(self, q, why);
}

/// Whether a send that is not a decoration waits behind the front of the room's queue.
bool content_follows(const room_queue& q) {
  return std::any_of(std::next(q.durable.begin()), q.durable.end(),
                     [](const outbox_entry& e) { return !e.yields; });
}

/// Leaves out the decoration at the front: content after it goes in its place.
void skip_front(outbox_pointer self, const std::string& room_id, room_queue& q) {
  auto& st = self->state;
  auto& e = q.durable.front();
  st.log->debug("skipping {} {} in {}: content queued after it goes first", e.event_type,
                e.txn_id, room_id);
  st.metrics->outbox_send("skipped");
  front_failed(self, q, "skipped: content queued after it went first");
}

std::optional<next_send> pick(outbox_pointer self, const std::string& room_id, room_queue& q) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (!q.durable.empty()) {
    auto& e = q.durable.front();
    // Everything queued before it in this room is settled by now (sent or given up):
    // a send that vouches for one of them goes only if that one reached the room.
    if (!e.after_txn.empty()) {
      auto vouched = st.store->outcome_of_send(e.after_txn);
      if (vouched.state != send_outcome::sent) {
        drop_front(self, room_id, q, "it follows " + what_became_of(e.after_txn, vouched));
        continue;
      }
    }
    // A decoration with content queued after it: the content takes its place (under a
    // rate limit that is one window sooner for the text; the 👀 would say nothing new).
    if (e.yields && content_follows(q)) {
      skip_front(self, room_id, q);
      continue;
    }
    if (e.relates_txn.empty())
      return next_send{e.txn_id, e.event_type, e.content, true, false, {}, {}};
    auto original = st.store->outcome_of_send(e.relates_txn);
    if (original.state != send_outcome::sent) {
      drop_front(self, room_id, q,
                 "it edits " + what_became_of(e.relates_txn, original));
      continue;
    }
    // The newest streaming edit the homeserver took shows this very text: the final
    // edit is in the room already, under that edit's event id.
    if (auto shown = st.shown.find(e.relates_txn);
        shown != st.shown.end() && shown->second.content == e.content) {
      st.log->debug("final edit {} in {} is shown already (as {})", e.txn_id, room_id,
                    shown->second.event_id);
      if (!front_sent(self, q, shown->second.event_id))
        return std::nullopt;
      continue;
    }
    auto content = with_original(e.content, original.event_id);
    if (!content) {
      drop_front(self, room_id, q, "its content is not a JSON object");
      continue;
    }
    // Edits are spaced a second apart per room; a reaction on one of our messages (the
    // choices of an approval prompt) relates to it too but is no edit.
    bool is_edit = e.event_type != "m.reaction";
    if (is_edit && now < q.last_edit + edit_spacing) {
      wake_at(self, room_id, q, q.last_edit + edit_spacing);
      return std::nullopt;
    }
    return next_send{e.txn_id, e.event_type, *content, true, is_edit, {}, {}};
  }
  for (auto i = q.progress.begin(); i != q.progress.end(); ++i) {
    auto original = st.store->outcome_of_send(i->first);
    if (original.state != send_outcome::sent)
      continue; // its original is not out yet (or failed): wait for it or the final edit
    if (now < q.last_edit + edit_spacing) {
      wake_at(self, room_id, q, q.last_edit + edit_spacing);
      return std::nullopt;
    }
    auto content = with_original(i->second.content, original.event_id);
    auto txn = matrix::derive_txn_id(i->first, static_cast<unsigned>(++st.progress_counter),
                                     "progress");
    next_send next{txn, "m.room.message", content.value_or(""), false, true, i->first,
                   std::move(i->second.content)};
    q.progress.erase(i);
    if (!content) {
      st.log->warn("dropping a streaming edit of {} in {}: its content is not a JSON object",
                   next.edit_of, room_id);
      return std::nullopt;
    }
    return next;
  }
  return std::nullopt;
}

void on_sent(outbox_pointer self, const std::string& room_id, const next_send& s,
             const http_result& res) {
  auto& st = self->state;
  auto& q = st.rooms[room_id];
  q.in_flight = false;
  // Edits are spaced from the answer to the last one, not from when it was sent: the
  // homeserver stamps an event when it arrives, and a request that took a little longer
  // than the next would otherwise land less than edit_spacing before it.
  if (s.is_edit)
    q.last_edit = self->clock().now();
  // A 2xx whose body does not name the event (garbled, truncated or swapped by a
  // proxy) does not prove the homeserver has it: it is retried like a failure, with the
  // same txn id, which the homeserver deduplicates if it did take it. Marking it sent
  // would lose the reply for good.
  std::optional<matrix::matrix_error> unconfirmed;
  std::string event_id;
  if (succeeded(res)) {
    auto parsed = matrix::parse_event_id(to_matrix_response(res));
    if (parsed)
      event_id = parsed.value();
    else
      unconfirmed = parsed.error();
  }
  if (succeeded(res) && !unconfirmed) {
    st.metrics->outbox_send("ok");
    if (s.durable) {
      // A final edit that is out resolves its message: no streaming edit for it can
      // follow (a session sends its last streaming edit before its final one).
      if (!front_sent(self, q, event_id))
        return;
    } else if (!s.edit_of.empty()) {
      if (st.shown.size() >= shown_kept && st.shown.count(s.edit_of) == 0)
        st.shown.erase(st.shown.begin()); // a turn that never finished; only costs an edit
      st.shown[s.edit_of] = shown_edit{s.edit_content, event_id};
    }
    q.backoff.reset();
    pump(self, room_id);
    return;
  }
  auto err = unconfirmed ? *unconfirmed : to_matrix_error(res);
  auto action = unconfirmed ? matrix::error_action::retry : matrix::classify(err);
  switch (action) {
    case matrix::error_action::stop_profile:
      st.metrics->outbox_send("refused");
      self->quit(make_error(errc::unauthorized,
                            "the homeserver rejected MATRIX_ACCESS_TOKEN (" + err.errcode
                              + "); log in again and put the new token in .env"));
      return;
    case matrix::error_action::retry:
    case matrix::error_action::restart_sync: {
      auto wait = err.retry_after ? *err.retry_after : q.backoff.next_with(st.random);
      // Only durable sends wait; a dropped streaming edit costs no time.
      if (err.http_status == 429)
        st.metrics->outbox_rate_limited(s.durable ? wait : decltype(wait){0});
      else
        st.metrics->outbox_send("retry");
      if (!s.durable) {
        // Not worth a retry: a newer streaming edit or the final edit follows, and the
        // final text is durable (the session always queues it when the reply was edited).
        st.log->info("a streaming edit of {} in {} was not taken ({}); dropped, the final "
                     "text follows",
                     s.edit_of, room_id, matrix::to_string(err));
        break;
      }
      st.log->warn("send of {} {} to {} failed ({}); retrying in {} ms", s.event_type, s.txn_id,
                   room_id, matrix::to_string(err), wait.count());
      q.not_before = self->clock().now() + wait;
      wake_at(self, room_id, q, q.not_before);
      return;
    }
    case matrix::error_action::fail_request:
      st.log->error("the homeserver refused {} {} in {} ({}); dropped", s.event_type, s.txn_id,
                    room_id, matrix::to_string(err));
      st.metrics->outbox_send("refused");
      if (s.durable)
        front_failed(self, q, matrix::to_string(err));
      break;
  }
  pump(self, room_id);
}

void put(outbox_pointer self, const std::string& room_id, next_send next,
         const event_to_send& event);
void encryption_failed(outbox_pointer self, const std::string& room_id, const next_send& s,
                       const caf::error& err);

void pump(outbox_pointer self, const std::string& room_id) {
  auto& st = self->state;
  auto& q = st.rooms[room_id];
  if (q.in_flight)
    return;
  if (self->clock().now() < q.not_before) {
    wake_at(self, room_id, q, q.not_before);
    return;
  }
  auto next = pick(self, room_id, q);
  if (!next)
    return;
  q.in_flight = true;
  if (next->is_edit)
    q.last_edit = self->clock().now();
  auto content = matrix::parse_bounded_json(next->content);
  event_to_send plain{next->event_type, content ? std::move(*content) : nlohmann::json::object()};
  if (!st.crypto) {
    put(self, room_id, std::move(*next), plain);
    return;
  }
  // Encrypted (or refused) per send: a retry after a crash encrypts again under the same
  // txn id, which the homeserver deduplicates.
  self->request(st.crypto, caf::infinite,
                encrypt_request{room_id, std::move(plain.event_type), std::move(plain.content)})
    .then(
      [self, room_id, s = *next](const event_to_send& event) mutable {
        put(self, room_id, std::move(s), event);
      },
      [self, room_id, s = *next](const caf::error& err) {
        encryption_failed(self, room_id, s, err);
      });
}

void put(outbox_pointer self, const std::string& room_id, next_send next,
         const event_to_send& event) {
  auto& st = self->state;
  auto req = matrix::send_request(room_id, event.event_type, next.txn_id, event.content);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, room_id, s = std::move(next)](const http_result& res) {
      on_sent(self, room_id, s, res);
    });
}

void encryption_failed(outbox_pointer self, const std::string& room_id, const next_send& s,
                       const caf::error& err) {
  auto& st = self->state;
  auto& q = st.rooms[room_id];
  q.in_flight = false;
  if (err.category() == error_category && err.code() == static_cast<uint8_t>(errc::bad_config)) {
    st.log->error("not sending {} {} into {}: {}", s.event_type, s.txn_id, room_id,
                  error_text(err));
    if (s.durable)
      front_failed(self, q, "not encrypted");
    pump(self, room_id);
    return;
  }
  st.log->warn("cannot encrypt for {} ({}); retrying", room_id, error_text(err));
  if (!s.durable) {
    pump(self, room_id);
    return;
  }
  q.not_before = self->clock().now() + q.backoff.next_with(st.random);
  wake_at(self, room_id, q, q.not_before);
}

outbox_actor::behavior_type outbox_behavior(outbox_pointer self, cell_context ctx,
                                            crypto_actor crypto) {
  auto& init = self->state;
  static_cast<cell_context&>(init) = std::move(ctx);
  init.crypto = std::move(crypto);
  // Resume what a previous life of this profile left unsent.
  for (auto& e : init.store->pending_outbox()) {
    if (!e.relates_txn.empty())
      init.finalized.insert(e.relates_txn);
    init.rooms[e.room_id].durable.push_back(std::move(e));
  }
  if (!init.rooms.empty())
    init.log->info("resuming {} unsent message(s)", [&] {
      size_t n = 0;
      for (auto& [_, q] : init.rooms)
        n += q.durable.size();
      return n;
    }());
  queue_changed(self);
  for (auto& [room_id, _] : init.rooms)
    self->send(self, atom::internal_v, atom::flush_v, room_id);
  return {
    [self](const outgoing_event& ev) -> caf::result<atom::ok> {
      auto& st = self->state;
      outbox_entry e{0,          ev.room_id,     ev.txn_id,   ev.event_type,
                     ev.content, ev.relates_txn, ev.after_txn, ev.yields};
      bool inserted = false;
      if (auto written = st.store->enqueue(e, inserted); !written) {
        auto& why = written.error().message;
        self->quit(make_error(errc::store_failed, "cannot write the store: " + why));
        return make_error(errc::store_failed, why);
      }
      if (inserted) {
        if (!ev.relates_txn.empty()) {
          st.finalized.insert(ev.relates_txn);
          if (st.rooms[ev.room_id].progress.erase(ev.relates_txn) > 0)
            st.log->debug("a streaming edit of {} waiting in {} is superseded by its final "
                          "edit",
                          ev.relates_txn, ev.room_id);
        }
        st.rooms[ev.room_id].durable.push_back(std::move(e));
        queue_changed(self);
        pump(self, ev.room_id);
      }
      return atom::ok_v;
    },
    [self](progress_edit& edit) {
      auto& st = self->state;
      if (st.finalized.count(edit.original_txn) > 0) {
        st.log->debug("dropping a streaming edit of {} in {}: its final edit is queued",
                      edit.original_txn, edit.room_id);
        return;
      }
      auto room_id = edit.room_id;
      auto key = edit.original_txn;
      st.rooms[room_id].progress[key] = std::move(edit);
      pump(self, room_id);
    },
    [self](atom::typing, const std::string& room_id, bool typing) {
      auto& st = self->state;
      auto req = matrix::typing_request(room_id, st.user_id, typing);
      // Best effort: a lost typing notice only looks odd, it loses nothing.
      self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
        .then([](const http_result&) {});
    },
    [self](atom::internal, atom::flush, const std::string& room_id) {
      self->state.rooms[room_id].flush_scheduled = false;
      pump(self, room_id);
    },
  };
}

} // namespace

outbox_actor spawn_outbox(caf::local_actor* cell_self, const cell_context& ctx,
                          crypto_actor crypto) {
  return cell_self->spawn<caf::linked>(outbox_behavior, ctx, std::move(crypto));
}

} // namespace hm
