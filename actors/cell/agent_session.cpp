#include "actors/cell/agent_session_state.hpp"
#include "actors/cell/media_delivery.hpp"

#include "agent/backend_error.hpp"
#include "agent/media_directives.hpp"
#include "matrix/content.hpp"
#include "matrix/errors.hpp"
#include "matrix/format.hpp"
#include "matrix/split.hpp"
#include "matrix/txn_id.hpp"

#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <algorithm>

namespace hm::agent_session_detail {

std::string reply_txn(const agent_turn& t) {
  return matrix::reply_txn_id(t.event_id);
}

/// The agent's Markdown as a message: sanitized HTML when it adds something,
/// and, in a group room, the person answered pinged (the spec's advice for
/// replies).
matrix::outgoing_message reply_message(const agent_turn& t, std::string_view markdown) {
  auto m = matrix::formatted_message(markdown, matrix::message_kind::text);
  if (!t.is_dm)
    m.mention_user_ids.push_back(t.sender);
  return m;
}

/// The content of one message of the reply, in the turn's thread or as a reply.
std::string message_content(session_pointer self, const agent_turn& t, std::string body) {
  auto& cfg = self->state.config;
  auto m = reply_message(t, body);
  auto json = t.thread_root.empty()
                ? matrix::reply_content(m, cfg.own_user_id, t.in_reply_to)
                : matrix::thread_content(m, cfg.own_user_id, t.thread_root, t.in_reply_to);
  matrix::fit_content(json);
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// An edit of the reply's first message; the outbox fills in its event id.
std::string edit_json(session_pointer self, const agent_turn& t, std::string body) {
  auto& cfg = self->state.config;
  auto m = reply_message(t, body);
  std::vector<std::string> original_mentions;
  if (!t.is_dm)
    original_mentions.push_back(t.sender);
  auto json = matrix::edit_content(m, cfg.own_user_id, "", original_mentions);
  matrix::fit_content(json);
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// MATRIX_MAX_MESSAGE_LENGTH, but never more than one event can carry: Hermes
/// allows up to 65535, while a homeserver refuses events over 64 KiB whole.
size_t split_limit(const agent_session_config& cfg) {
  return std::min(cfg.max_message_length, matrix::max_content_bytes - 1024);
}

void send_durable(session_pointer self, outgoing_event ev) {
  // The outbox persists before it replies; nothing here waits for that, the
  // journal entry is only finished after the last durable send of the turn.
  self->request(self->state.outbox, caf::infinite, std::move(ev)).then([](atom::ok) {});
}

/// Reacts to the turn's message; with `after_txn`, only once that send of the reply
/// reached the room (the outbox drops the reaction if it never does).
void react(session_pointer self, const agent_turn& t, std::string txn, const char* key,
           std::string after_txn = {}, bool yields = false) {
  if (!self->state.config.reactions)
    return;
  send_durable(self, {t.room_id, "m.reaction",
                      matrix::reaction_content(t.event_id, key).dump(), std::move(txn), "",
                      std::move(after_txn), yields});
}

/// What the room sees while the turn runs: the text so far, or what the agent
/// is doing when it has said nothing yet.
std::string visible_text(const running_turn& r) {
  // A MEDIA: line is for the gateway, not the room: never shown, not even half-streamed.
  auto text = agent::trim_blank_lines(agent::hide_partial_media(r.text));
  if (!text.empty())
    return text;
  return r.tools.lines();
}

/// Hands the newest text to the outbox: the first message once, then edits
/// (which the outbox coalesces to one per second per room).
void publish(session_pointer self) {
  auto& r = *self->state.current;
  auto text = visible_text(r);
  if (text.empty() || text == r.published)
    return;
  auto max_len = split_limit(self->state.config);
  if (text.size() > max_len) // the rest goes out as further messages at the end
    text = matrix::split_message(text, max_len).front();
  if (!r.initial_sent) {
    r.initial_sent = true;
    r.first_text = text;
    send_durable(self, {r.turn.room_id, "m.room.message", message_content(self, r.turn, text),
                        reply_txn(r.turn), "", ""});
  } else {
    self->send(self->state.outbox,
               progress_edit{r.turn.room_id, reply_txn(r.turn), edit_json(self, r.turn, text)});
  }
  r.published = std::move(text);
}

std::string session_id_of(const session_state& st) {
  return st.generation == 0 ? st.config.session_id
                            : st.config.session_id + "-" + std::to_string(st.generation);
}

void add_reply_text(session_pointer self, const std::string& text) {
  auto& st = self->state;
  auto& r = *st.current;
  if (r.text.empty() && !text.empty())
    st.metrics->agent_first_token(std::chrono::steady_clock::now() - r.requested);
  r.text += text;
}

void start_next(session_pointer self);

/// The files the final text names go out first (media_delivery.hpp); the text itself,
/// without its MEDIA: lines, follows when they are sent (media_delivered).
bool deliver_files_first(session_pointer self, std::string& final_text,
                         const journal_outcome& outcome, bool ok) {
  auto& st = self->state;
  auto& r = *st.current;
  if (r.media_checked)
    return false;
  r.media_checked = true;
  auto found = agent::extract_media(final_text);
  final_text = found.visible_text;
  // A failed, stopped or interrupted turn sends no files: its reply is not the agent's
  // last word.
  if (found.files.empty() || !ok)
    return false;
  delivery_job job;
  job.event_id = r.turn.event_id;
  job.room_id = r.turn.room_id;
  job.thread_root = r.turn.thread_root;
  job.in_reply_to = r.turn.in_reply_to;
  for (auto& f : found.files)
    job.paths.push_back(f.path);
  job.as_voice = found.as_voice;
  job.as_document = found.as_document;
  job.hermes_home = st.config.hermes_home;
  for (auto& dir : st.config.media.send_dirs)
    job.extra_roots.emplace_back(dir);
  job.max_bytes = st.config.media.max_bytes;
  job.max_files = st.config.media.max_files_per_reply;
  job.crypto = st.config.crypto;
  job.outbox = st.outbox;
  job.session = self;
  r.awaiting_files = running_turn::final_words{final_text, outcome, ok};
  spawn_media_delivery(self, {st.link, nullptr, st.config.own_user_id, st.log, st.metrics, st.cell},
                       std::move(job));
  return true;
}

/// Ends the running turn: the final text lands (first message or final edit,
/// further messages for the rest), reactions and typing are settled, and the
/// cell marks the journal entry done.
///
/// The final text is always durable. Streaming edits are not (the outbox drops one
/// the homeserver does not take, a 429 say), so once the reply was edited the final
/// edit is queued even when the last streaming edit carried the same text; the outbox
/// sends it only if the room does not show that text already. Each further part
/// follows the one before, and the ✅ or ❌ follows the last: none goes out unless
/// the text before it reached the room. A reply that names files (MEDIA: lines) waits
/// for them first.
void finish_turn(session_pointer self, std::string final_text, const journal_outcome& outcome,
                 bool ok) {
  auto& st = self->state;
  if (deliver_files_first(self, final_text, outcome, ok))
    return;
  auto& r = *st.current;
  auto& t = r.turn;
  auto parts = matrix::split_message(final_text, split_limit(st.config));
  auto last_txn = reply_txn(t);
  if (!r.initial_sent) {
    send_durable(self, {t.room_id, "m.room.message", message_content(self, t, parts.front()),
                        last_txn, "", ""});
  } else if (parts.front() != r.first_text || r.published != r.first_text) {
    auto final_txn = matrix::derive_txn_id(t.event_id, 0, "final");
    send_durable(self, {t.room_id, "m.room.message", edit_json(self, t, parts.front()),
                        final_txn, reply_txn(t), ""});
    last_txn = final_txn;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    auto part_txn = matrix::derive_txn_id(t.event_id, static_cast<unsigned>(i), "reply");
    send_durable(self, {t.room_id, "m.room.message", message_content(self, t, parts[i]),
                        part_txn, "", last_txn});
    last_txn = part_txn;
  }
  react(self, t, matrix::done_txn_id(t.event_id), ok ? "✅" : "❌", last_txn);
  self->send(st.outbox, atom::typing_v, t.room_id, false);
  if (ok) {
    st.history.push_back({"user", t.text});
    st.history.push_back({"assistant", final_text});
    while (st.history.size() > history_kept)
      st.history.erase(st.history.begin());
  }
  self->send(st.cell, turn_done{t.event_id, outcome});
  st.current.reset();
  st.last_activity = self->clock().now();
  self->delayed_send(self, idle_limit, atom::internal_v, atom::tick_v);
  start_next(self);
}

/// SOUL.md and the history go along unless the backend keeps them itself (a Hermes
/// server: it has both, and a second system prompt would put the persona in twice).
/// HERMES_MATRIX_SEND_HISTORY decides where set; an unknown backend is treated as plain.
bool send_history(const session_state& st) {
  if (st.config.send_history)
    return *st.config.send_history;
  return !(st.backend && st.backend->keeps_sessions);
}

/// Sends the running turn's request to the backend (again after a 429).
void send_turn_request(session_pointer self) {
  auto& st = self->state;
  auto& r = *st.current;
  r.call_id = st.next_call++;
  r.call.id = r.call_id;
  r.decoder = agent::chat_stream_decoder{};
  r.raw_head.clear();
  r.finished.reset();
  r.last_data = self->clock().now();
  r.requested = std::chrono::steady_clock::now();
  self->send(st.engine, r.call, caf::actor_cast<http_stream_sink_actor>(self));
}

/// Builds the turn's request for the backend as it is known, and sends it: a run where
/// the server offers runs (and always for a turn whose run the journal names), else a
/// streamed chat completion.
void ask_backend(session_pointer self) {
  auto& st = self->state;
  auto& cfg = st.config;
  auto& r = *st.current;
  if (!r.turn.run.empty() || (st.backend && st.backend->runs)) {
    start_run(self);
    return;
  }
  agent::conversation_context ctx{cfg.profile, r.turn.room_id, r.turn.sender};
  auto messages = send_history(st)
                    ? agent::build_plain_messages(cfg.soul, ctx, st.history, r.turn.text, {},
                                                  r.turn.image_urls)
                    : agent::build_session_messages(ctx, r.turn.text, r.turn.image_urls);
  auto session_id = session_id_of(st);
  r.call = to_call(agent::build_chat_request({cfg.agent_url, cfg.agent_key.reveal(),
                                              session_id, cfg.model, messages}),
                   0);
  r.call.timeout = turn_limit;
  r.call.stream = true;
  send_turn_request(self);
}

/// Asks the backend what it is (GET /v1/capabilities), then the turn's request follows.
/// Nothing learned (no answer, an error): the turn goes as to a plain backend, and the
/// next turn asks again.
void learn_backend(session_pointer self) {
  auto& st = self->state;
  auto& cfg = st.config;
  auto turn_event = st.current->turn.event_id;
  auto call = to_call(agent::build_capabilities_request(cfg.agent_url, cfg.agent_key.reveal()),
                      st.next_call++);
  call.timeout = std::chrono::seconds{10};
  call.max_body_bytes = 64 * 1024;
  self->request(st.engine, caf::infinite, std::move(call))
    .then([self, turn_event](const http_result& res) {
      auto& now = self->state;
      now.backend = agent::parse_capabilities(res.status, res.body);
      if (now.backend)
        now.log->debug("the agent backend {} sessions{}",
                       now.backend->keeps_sessions ? "keeps" : "does not keep",
                       now.backend->runs ? " and offers runs" : "");
      else
        now.log->warn("the agent backend did not say what it offers (HTTP {}{}); answering "
                     "as to a plain OpenAI-compatible backend",
                     res.status, res.status == 0 ? ": " + res.error : "");
      // The turn may have been interrupted or stopped meanwhile.
      if (now.current && now.current->turn.event_id == turn_event && now.current->call_id == 0)
        ask_backend(self);
    });
}

void start_turn(session_pointer self, agent_turn turn) {
  auto& st = self->state;
  st.current.emplace();
  auto& r = *st.current;
  r.turn = std::move(turn);
  r.started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  r.last_data = self->clock().now();
  r.last_typing = r.last_data;
  // Resumed after a restart with its first message out already: edits of it from here
  // (its text then is not known; the final edit always follows).
  r.initial_sent = r.turn.reply_begun;
  // "Working on it" says nothing once the reply is there: it yields to the text.
  react(self, r.turn, matrix::derive_txn_id(r.turn.event_id, 0, "react-working"), "👀", {},
        true);
  self->send(st.outbox, atom::typing_v, r.turn.room_id, true);
  st.log->info("answering {} in {} ({} waiting)", r.turn.event_id, r.turn.room_id,
               st.waiting.size());
  if (!st.config.send_history && !st.backend)
    learn_backend(self);
  else
    ask_backend(self);
  self->delayed_send(self, tick_interval, atom::internal_v, atom::tick_v);
}

void start_next(session_pointer self) {
  auto& st = self->state;
  if (st.current || st.waiting.empty())
    return;
  auto next = std::move(st.waiting.front());
  st.waiting.pop_front();
  start_turn(self, std::move(next));
}

/// Ends the running turn early (interrupt, /stop, silent backend).
void abandon(session_pointer self, const std::string& note, const journal_outcome& outcome) {
  auto& st = self->state;
  if (!st.current)
    return;
  if (st.current->call_id != 0)
    self->send(st.engine, atom::cancel_v, st.current->call_id);
  stop_run(self);
  auto said = agent::trim_blank_lines(st.current->text);
  auto text = said.empty() ? note : said + "\n\n" + note;
  finish_turn(self, text, outcome, false);
}

agent_session_actor::behavior_type
session_behavior(session_pointer self, cell_context ctx, agent_session_config config,
                 outbox_actor outbox) {
  auto& init = self->state;
  init.metrics = std::move(ctx.metrics);
  init.config = std::move(config);
  init.link = ctx.link;
  init.engine = std::move(ctx.link.engine);
  init.outbox = std::move(outbox);
  init.cell = std::move(ctx.cell);
  init.log = std::move(ctx.log);
  return {
    [self](agent_turn& turn) {
      auto& st = self->state;
      if (!st.current) {
        start_turn(self, std::move(turn));
        return;
      }
      // Interrupting means "the user changed their mind while the answer was
      // being written". A message sent before this turn even started (a backlog
      // after a restart, several messages in one sync) changes no mind: it waits.
      // Nor is it bounded by the live queue's limit: the journal already holds
      // it, and a backlog is bounded by what a sync gap fill fetches.
      if (turn.origin_ts < st.current->started_unix_ms) {
        st.waiting.push_back(std::move(turn));
        return;
      }
      switch (profiles::on_busy(st.config.busy_mode, st.waiting.size())) {
        case profiles::busy_action::interrupt:
          st.waiting.push_front(std::move(turn));
          abandon(self, "_(interrupted by a newer message)_", journal_outcome::interrupted());
          break;
        case profiles::busy_action::queue:
          st.waiting.push_back(std::move(turn));
          break;
        case profiles::busy_action::reject_full:
          st.log->warn("dropping {}: {} messages already wait for this conversation",
                       turn.event_id, st.waiting.size());
          st.metrics->agent_error("queue_full");
          send_durable(self, {turn.room_id, "m.room.message",
                              message_content(self, turn,
                                              "Too many messages are waiting for an answer; "
                                              "this one was dropped. Try again later."),
                              reply_txn(turn), "", ""});
          self->send(st.cell, turn_done{turn.event_id, journal_outcome::failed("queue_full")});
          break;
      }
    },
    [self](http_chunk& chunk) {
      auto& st = self->state;
      if (!st.current || chunk.id != st.current->call_id)
        return;
      auto& r = *st.current;
      r.last_data = self->clock().now();
      if (r.runs) {
        on_run_chunk(self, chunk.data);
        return;
      }
      constexpr size_t kept = 16 * 1024;
      if (r.raw_head.size() < kept)
        r.raw_head.append(chunk.data, 0, kept - r.raw_head.size());
      for (auto& item : r.decoder.feed(chunk.data)) {
        if (auto* delta = std::get_if<agent::text_delta>(&item)) {
          add_reply_text(self, delta->text);
        } else if (auto* tool = std::get_if<agent::tool_progress>(&item)) {
          r.tools.apply(*tool);
        } else if (auto* fin = std::get_if<agent::finish>(&item)) {
          r.finished = *fin;
        } else if (auto* bad = std::get_if<agent::malformed>(&item)) {
          st.log->warn("the agent backend sent something unreadable: {}", bad->what);
        }
      }
      // Text goes out on the next tick, not per chunk: a short reply that is
      // complete by then is sent as one message with no edit at all.
    },
    [self](http_result& res) {
      auto& st = self->state;
      if (!st.current || res.id != st.current->call_id)
        return;
      auto& r = *st.current;
      st.metrics->agent_request(std::chrono::steady_clock::now() - r.requested);
      if (r.runs) {
        on_run_result(self, res);
        return;
      }
      auto said = agent::trim_blank_lines(r.text);
      if (res.status == 0) {
        st.metrics->agent_error("unreachable");
        st.log->error("the agent backend is unreachable: {}", res.error);
        st.backend.reset(); // it may come back as another kind of server
        finish_turn(self, (said.empty() ? "" : said + "\n\n")
                            + "⚠️ The agent backend is unreachable (" + res.error + ").",
                    journal_outcome::failed("unreachable"), false);
        return;
      }
      if (res.status == 429 && said.empty() && r.busy_waited < st.config.silence_limit) {
        // Busy (Hermes: too many concurrent runs): not an error to the person. The
        // typing notice stays up (tick) until it is asked again.
        auto told = matrix::parse_retry_after(res.header("retry-after"),
                                              std::chrono::system_clock::now());
        caf::timespan wait = std::clamp<caf::timespan>(told.value_or(busy_wait_min),
                                                       busy_wait_min, busy_wait_max);
        st.log->info("the agent backend is busy (HTTP 429); asking again in {} s",
                     std::chrono::duration_cast<std::chrono::seconds>(wait).count());
        r.busy_waited += wait;
        r.ask_again_at = self->clock().now() + wait;
        r.call_id = 0; // no call out meanwhile
        return;
      }
      if (res.status != 200) {
        if (res.status >= 500)
          st.backend.reset();
        // A streamed call's body came as chunks: the error text is at its head.
        auto err = agent::describe_backend_error(res.status, r.raw_head,
                                                 st.config.agent_key.reveal());
        st.log->error("the agent backend answered HTTP {}: {}", res.status, err.message);
        st.metrics->agent_error(res.status >= 500 ? "http_5xx"
                                : res.status >= 400 ? "http_4xx"
                                                    : "other");
        finish_turn(self, "⚠️ " + err.message,
                    journal_outcome::failed("http_" + std::to_string(res.status)),
                    false);
        return;
      }
      bool failed = r.finished && (r.finished->reason == agent::finish_reason::error
                                   || (r.finished->hermes && r.finished->hermes->failed));
      if (failed) {
        auto why = r.finished->error.value_or(
          r.finished->hermes ? r.finished->hermes->error : std::string{"unknown error"});
        st.log->error("the agent failed: {}", why);
        st.metrics->agent_error("agent_failed");
        finish_turn(self, (said.empty() ? "" : said + "\n\n") + "⚠️ The agent failed: " + why,
                    journal_outcome::failed("agent"), false);
        return;
      }
      if (said.empty()) {
        st.metrics->agent_error("empty_reply");
        finish_turn(self, "⚠️ The agent sent an empty reply.",
                    journal_outcome::failed("empty"), false);
        return;
      }
      auto text = said;
      if (r.finished && r.finished->reason == agent::finish_reason::length)
        text += "\n\n_(cut short: the model reached its length limit)_";
      finish_turn(self, text, journal_outcome::answered(), true);
    },
    [self](atom::stop) {
      auto& st = self->state;
      for (auto& t : st.waiting)
        self->send(st.cell, turn_done{t.event_id, journal_outcome::stopped()});
      st.waiting.clear();
      abandon(self, "_(stopped)_", journal_outcome::stopped());
    },
    [self](approval_answer& answer) { on_approval_answer(self, answer); },
    [self](atom::reset) {
      auto& st = self->state;
      st.history.clear();
      ++st.generation;
    },
    [self](media_delivered& done) {
      auto& st = self->state;
      if (!st.current || !st.current->awaiting_files || st.current->turn.event_id != done.event_id)
        return; // the turn ended otherwise meanwhile (stopped, interrupted)
      auto words = std::move(*st.current->awaiting_files);
      st.current->awaiting_files.reset();
      for (auto& note : done.notes)
        words.text += (words.text.empty() ? "" : "\n\n") + note;
      finish_turn(self, std::move(words.text), words.outcome, words.ok);
    },
    [self](atom::internal, atom::tick) {
      auto& st = self->state;
      if (!st.current) {
        if (st.waiting.empty() && self->clock().now() - st.last_activity >= idle_limit)
          self->quit(); // a normal exit: the cell forgets this conversation
        return;
      }
      auto& r = *st.current;
      auto now = self->clock().now();
      if (r.awaiting_files) {
        // The agent is done; uploads are no silence of the backend.
        self->delayed_send(self, tick_interval, atom::internal_v, atom::tick_v);
        return;
      }
      if (r.runs) {
        run_tick(self);
        if (!st.current)
          return; // the run ended (its status said so)
      } else if (r.ask_again_at && now >= *r.ask_again_at) {
        r.ask_again_at.reset();
        send_turn_request(self);
      }
      // Waiting out a 429, for the backend to say what it is, for a person to answer an
      // approval, or following a run by its status, is not silence.
      if (r.ask_again_at || r.call_id == 0 || r.approval)
        r.last_data = now;
      if (now - r.last_data > st.config.silence_limit) {
        st.log->error("the agent backend sent nothing for {} s; giving up on this turn",
                      st.config.silence_limit.count());
        st.metrics->agent_error("silent");
        abandon(self, "⚠️ The agent backend stopped answering.",
                journal_outcome::failed("silent"));
        return;
      }
      if (!r.approval && now - r.last_typing > typing_refresh) {
        r.last_typing = now;
        self->send(st.outbox, atom::typing_v, r.turn.room_id, true);
      }
      publish(self);
      self->delayed_send(self, tick_interval, atom::internal_v, atom::tick_v);
    },
  };
}

} // namespace hm::agent_session_detail

namespace hm {

using agent_session_detail::session_behavior;

agent_session_actor spawn_agent_session(caf::local_actor* cell_self, const cell_context& ctx,
                                        agent_session_config config, outbox_actor outbox) {
  return cell_self->spawn<caf::linked>(session_behavior, ctx, std::move(config),
                                       std::move(outbox));
}

} // namespace hm
