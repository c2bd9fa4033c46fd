// A turn as a run of Hermes' runs API (agent/runs.hpp): started with POST /v1/runs,
// its events streamed into the room as a chat completion's are, its approvals asked
// in the conversation and answered by the person who asked, stopped on the server by
// /stop, and followed by its status when its event stream is gone.
//
// Exactly once at the agent: before the run is asked for, the journal notes that it
// is ("requested"); once the server named it, its id ("started"); and a pending
// approval with its prompt. A turn resumed after a restart follows the run the journal
// names (GET /v1/runs/{id}: the server's event stream has only one reader, and it was
// the process that died) instead of running the agent again. A turn that was requested
// but never named is sent again only where the server takes an Idempotency-Key (a
// replay gives the same run); elsewhere the person is told that it may not have
// arrived.

#include "actors/cell/agent_session_state.hpp"

#include "agent/backend_error.hpp"
#include "matrix/content.hpp"
#include "matrix/errors.hpp"
#include "matrix/format.hpp"
#include "matrix/txn_id.hpp"

#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace hm::agent_session_detail {

namespace {

using json = nlohmann::json;

/// How often a run is asked for its status while it is followed that way.
constexpr auto poll_interval = std::chrono::seconds{2};

const char* emoji_of(agent::approval_choice c) {
  switch (c) {
    case agent::approval_choice::once: return "✅";
    case agent::approval_choice::session: return "🌀";
    case agent::approval_choice::always: return "♾️";
    case agent::approval_choice::deny: return "❌";
  }
  return "❌";
}

const char* outcome_of(agent::approval_choice c) {
  switch (c) {
    case agent::approval_choice::once: return "Approved once";
    case agent::approval_choice::session: return "Approved for this session";
    case agent::approval_choice::always: return "Approved always";
    case agent::approval_choice::deny: return "Denied";
  }
  return "Denied";
}

/// The journal's note of a run: where it stands, and a pending approval.
std::string run_note(const running_turn& r) {
  json note{{"state", r.run_id.empty() ? "requested" : "started"}};
  if (!r.run_id.empty())
    note["run_id"] = r.run_id;
  if (r.approval) {
    auto& a = *r.approval;
    auto choices = json::array();
    for (auto c : a.request.choices)
      choices.push_back(agent::to_string(c));
    note["approval"] = {{"txn", a.prompt_txn}, {"text", a.prompt_text},
                        {"number", a.number}, {"command", a.request.command},
                        {"description", a.request.description}, {"choices", choices}};
  }
  return note.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Journals where the running turn's run stands, then `then` (the reply means written).
template <class F>
void note_run(session_pointer self, F then) {
  auto& r = *self->state.current;
  auto event_id = r.turn.event_id;
  self->request(self->state.cell, caf::infinite, turn_progress{event_id, run_note(r)})
    .then([self, event_id, then](atom::ok) {
      if (self->state.current && self->state.current->turn.event_id == event_id)
        then();
    });
}

/// The history a run carries: a 0.18.x server does not load it by session id. Bounded
/// as a plain backend's is (agent::history_limits).
std::vector<agent::chat_message> run_history(const session_state& st) {
  auto messages = agent::build_plain_messages("", {}, st.history, "");
  // build_plain_messages puts a system message first and this message last.
  if (messages.size() <= 2)
    return {};
  return {messages.begin() + 1, messages.end() - 1};
}

/// A request to the server about the running turn's run (not streamed).
http_call run_call(session_pointer self, agent::http_request req) {
  auto call = to_call(std::move(req), self->state.next_call++);
  call.timeout = std::chrono::seconds{30};
  call.max_body_bytes = 1024 * 1024;
  return call;
}

void open_events(session_pointer self);
void post_run(session_pointer self);

void settle_approval(session_pointer self, const std::string& outcome);

/// Ends the turn as the run ended.
void end_run(session_pointer self, const agent::run_end& end) {
  auto& st = self->state;
  auto& r = *st.current;
  if (r.approval) // answered (the server went on before its 200 came), or given up on
    settle_approval(self, r.approval->answering
                            ? r.approval->outcome
                            : "No longer pending: the run went on without an answer");
  auto said = agent::trim_blank_lines(r.text);
  switch (end.kind) {
    case agent::run_end_kind::completed: {
      // The run's output is the whole answer; the deltas were its pieces.
      auto text = end.output.empty() ? said : agent::trim_blank_lines(end.output);
      if (text.empty()) {
        st.metrics->agent_error("empty_reply");
        finish_turn(self, "⚠️ The agent sent an empty reply.",
                    journal_outcome::failed("empty"), false);
      } else {
        finish_turn(self, text, journal_outcome::answered(), true);
      }
      return;
    }
    case agent::run_end_kind::failed:
      st.log->error("the agent's run {} failed: {}", r.run_id, end.error);
      st.metrics->agent_error("agent_failed");
      finish_turn(self, (said.empty() ? "" : said + "\n\n") + "⚠️ The agent failed: " + end.error,
                  journal_outcome::failed("agent"), false);
      return;
    case agent::run_end_kind::cancelled:
      st.log->warn("the agent's run {} was cancelled on the server", r.run_id);
      finish_turn(self, (said.empty() ? "" : said + "\n\n") + "_(the agent's run was cancelled)_",
                  journal_outcome::failed("cancelled"), false);
      return;
  }
}

/// From now on the run is followed by its status.
void follow_by_status(session_pointer self, caf::timespan after) {
  auto& r = *self->state.current;
  r.call_id = 0;
  r.poll_at = self->clock().now() + after;
}

/// The Markdown of an approval prompt: the command as the server gives it, why, and
/// how to answer (the choices the server takes).
std::string prompt_text(const agent::approval_request& a) {
  auto command = a.command.size() > 2000 ? a.command.substr(0, 2000) + "…" : a.command;
  // A fence longer than any backtick run in the command keeps it one code block.
  size_t longest = 0;
  size_t run = 0;
  for (char c : command) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(std::max<size_t>(3, longest + 1), '`');
  std::string text = "⚠️ **The agent wants to run a command that needs your approval**\n" + fence
                     + "\n" + command + "\n" + fence + "\n";
  if (!a.description.empty())
    text += "Reason: " + a.description + "\n";
  text += "\nReact ";
  std::vector<std::string> reacts;
  std::vector<std::string> typed;
  for (auto c : a.choices) {
    switch (c) {
      case agent::approval_choice::once:
        reacts.push_back(emoji_of(c) + std::string{" to run it once"});
        typed.push_back("`!approve`");
        break;
      case agent::approval_choice::session:
        reacts.push_back(emoji_of(c) + std::string{" to allow it for this session"});
        typed.push_back("`!approve session`");
        break;
      case agent::approval_choice::always:
        reacts.push_back(emoji_of(c) + std::string{" to always allow it"});
        typed.push_back("`!approve always`");
        break;
      case agent::approval_choice::deny:
        reacts.push_back(emoji_of(c) + std::string{" to deny it"});
        typed.push_back("`!deny`");
        break;
    }
  }
  for (size_t i = 0; i < reacts.size(); ++i)
    text += (i == 0 ? "" : i + 1 == reacts.size() ? " or " : ", ") + reacts[i];
  text += ", or reply ";
  for (size_t i = 0; i < typed.size(); ++i)
    text += (i == 0 ? "" : i + 1 == typed.size() ? " or " : ", ") + typed[i];
  return text + ".";
}

/// The agent asks for an approval: the prompt goes into the conversation with a
/// reaction for each choice, and is journaled (it survives a restart).
void ask_approval(session_pointer self, agent::approval_request request) {
  auto& st = self->state;
  auto& r = *st.current;
  auto& t = r.turn;
  if (r.approval)
    st.log->warn("the agent asked a new approval while {} was pending", r.approval->prompt_txn);
  pending_approval a;
  a.number = ++r.approvals;
  a.request = std::move(request);
  a.prompt_txn = matrix::derive_txn_id(t.event_id, a.number, "approval");
  a.prompt_text = prompt_text(a.request);
  a.deadline = self->clock().now() + st.config.approval_timeout;
  st.log->info("the agent asks approval to run a command ({}); prompt {} in {}",
               a.request.description.empty() ? "no reason given" : a.request.description,
               a.prompt_txn, t.room_id);
  send_durable(self, {t.room_id, "m.room.message", message_content(self, t, a.prompt_text),
                      a.prompt_txn, "", ""});
  unsigned i = 0;
  for (auto c : a.request.choices)
    send_durable(self, {t.room_id, "m.reaction", matrix::reaction_content("", emoji_of(c)).dump(),
                        matrix::derive_txn_id(t.event_id, a.number * 8 + i++, "approval-seed"),
                        a.prompt_txn, ""});
  r.approval = std::move(a);
  self->send(st.outbox, atom::typing_v, t.room_id, false); // waiting for a person now
  note_run(self, [] {});
}

/// Shows the outcome of the pending approval on its prompt, and forgets it.
void settle_approval(session_pointer self, const std::string& outcome) {
  auto& st = self->state;
  auto& r = *st.current;
  auto& a = *r.approval;
  auto text = a.prompt_text.substr(0, a.prompt_text.find("\n\nReact ")) + "\n\n**" + outcome
              + "**";
  send_durable(self, {r.turn.room_id, "m.room.message", edit_json(self, r.turn, text),
                      matrix::derive_txn_id(r.turn.event_id, a.number, "approval-outcome"),
                      a.prompt_txn, ""});
  r.approval.reset();
  note_run(self, [] {});
  self->send(st.outbox, atom::typing_v, r.turn.room_id, true);
}

/// A short answer to someone's reaction or command, as a reply to it.
void answer_in_room(session_pointer self, const approval_answer& to, const std::string& text) {
  auto& st = self->state;
  auto m = matrix::formatted_message(text, matrix::message_kind::notice);
  auto content = matrix::reply_content(m, st.config.own_user_id, to.event_id);
  send_durable(self, {to.room_id, "m.room.message",
                      content.dump(-1, ' ', false, json::error_handler_t::replace),
                      matrix::derive_txn_id(to.event_id, 0, "approval-answer"), "", ""});
}

/// Restores what the journal says of the run of a resumed turn; false when it names
/// none (the run was asked for, but the server's answer was never journaled).
bool restore_run(session_pointer self) {
  auto& r = *self->state.current;
  auto note = json::parse(r.turn.run, nullptr, false);
  if (note.is_discarded() || !note.is_object())
    return false;
  auto id = note.find("run_id");
  if (id == note.end() || !id->is_string() || id->get<std::string>().empty())
    return false;
  r.run_id = id->get<std::string>();
  auto a = note.find("approval");
  if (a != note.end() && a->is_object()) {
    pending_approval p;
    p.prompt_txn = a->value("txn", "");
    p.prompt_text = a->value("text", "");
    p.number = a->value("number", 1U);
    p.request.command = a->value("command", "");
    p.request.description = a->value("description", "");
    if (auto c = a->find("choices"); c != a->end() && c->is_array())
      for (auto& choice : *c)
        if (choice.is_string())
          if (auto parsed = agent::parse_approval_choice(choice.get<std::string>()))
            p.request.choices.push_back(*parsed);
    p.deadline = self->clock().now() + self->state.config.approval_timeout;
    r.approvals = p.number;
    if (!p.prompt_txn.empty())
      r.approval = std::move(p);
  }
  return true;
}

void post_run(session_pointer self) {
  auto& st = self->state;
  auto& cfg = st.config;
  auto& r = *st.current;
  agent::conversation_context ctx{cfg.profile, r.turn.room_id, r.turn.sender};
  auto history = run_history(st);
  auto session_id = session_id_of(st);
  auto instructions = agent::context_line(ctx);
  auto key = st.backend && st.backend->idempotent_runs ? "hermes-matrix:" + r.turn.event_id
                                                       : std::string{};
  auto call = run_call(self, agent::build_run_request({cfg.agent_url, cfg.agent_key.reveal(),
                                                       session_id, r.turn.text, instructions,
                                                       history, key, r.turn.image_urls}));
  r.requested = std::chrono::steady_clock::now();
  r.call_id = 0;
  auto event_id = r.turn.event_id;
  self->request(st.engine, caf::infinite, std::move(call))
    .then([self, event_id](const http_result& res) {
      auto& now = self->state;
      auto started = agent::parse_run_started(res.status, res.body);
      bool ours = now.current && now.current->turn.event_id == event_id;
      if (!ours) {
        // The turn was stopped or interrupted meanwhile: the run must not go on.
        if (started && now.backend && now.backend->stop) {
          now.log->info("stopping run {}: its turn ended while it was being started",
                        started->run_id);
          auto stop = run_call(self, agent::build_run_stop_request(
                                       now.config.agent_url, now.config.agent_key.reveal(),
                                       started->run_id));
          self->request(now.engine, caf::infinite, std::move(stop)).then([](const http_result&) {});
        }
        return;
      }
      auto& turn = *now.current;
      if (started) {
        turn.run_id = started->run_id;
        now.log->info("run {} {} for {}", turn.run_id,
                      started->replayed ? "found again" : "started", event_id);
        note_run(self, [self] { open_events(self); });
        return;
      }
      if (res.status == 429 && turn.busy_waited < now.config.silence_limit) {
        auto told = matrix::parse_retry_after(res.header("retry-after"),
                                              std::chrono::system_clock::now());
        caf::timespan wait = std::clamp<caf::timespan>(told.value_or(std::chrono::seconds{1}),
                                                       std::chrono::seconds{1},
                                                       std::chrono::seconds{30});
        now.log->info("the agent backend is busy (HTTP 429); asking again in {} s",
                      std::chrono::duration_cast<std::chrono::seconds>(wait).count());
        turn.busy_waited += wait;
        turn.ask_again_at = self->clock().now() + wait;
        turn.repost = true;
        return;
      }
      if (res.status == 0) {
        now.metrics->agent_error("unreachable");
        now.log->error("the agent backend is unreachable: {}", res.error);
        now.backend.reset();
        finish_turn(self, "⚠️ The agent backend is unreachable (" + res.error + ").",
                    journal_outcome::failed("unreachable"), false);
        return;
      }
      auto err = agent::describe_backend_error(res.status, res.body,
                                               now.config.agent_key.reveal());
      now.log->error("the agent backend refused the run (HTTP {}): {}", res.status, err.message);
      now.metrics->agent_error(res.status >= 500 ? "http_5xx" : "http_4xx");
      if (res.status >= 500)
        now.backend.reset();
      finish_turn(self, "⚠️ " + err.message,
                  journal_outcome::failed("http_" + std::to_string(res.status)), false);
    });
}

void open_events(session_pointer self) {
  auto& st = self->state;
  auto& r = *st.current;
  r.call = to_call(agent::build_run_events_request(st.config.agent_url,
                                                   st.config.agent_key.reveal(), r.run_id),
                   0);
  r.call.timeout = std::chrono::minutes{30};
  r.call.stream = true;
  r.run_decoder = agent::run_stream_decoder{};
  send_turn_request(self);
}

/// Asks the run's status; ends the turn when the run is over.
void poll_run(session_pointer self) {
  auto& st = self->state;
  auto& r = *st.current;
  r.poll_at.reset();
  r.polling = true;
  auto event_id = r.turn.event_id;
  auto call = run_call(self, agent::build_run_status_request(st.config.agent_url,
                                                             st.config.agent_key.reveal(),
                                                             r.run_id));
  st.log->debug("asking the status of run {}", r.run_id);
  self->request(st.engine, caf::infinite, std::move(call))
    .then([self, event_id](const http_result& res) {
      auto& now = self->state;
      if (!now.current || now.current->turn.event_id != event_id)
        return;
      auto& turn = *now.current;
      turn.polling = false;
      auto got = agent::parse_run_status(res.status, res.body);
      if (!got) {
        now.log->warn("cannot read the status of run {} (HTTP {}); asking again", turn.run_id,
                      res.status);
        follow_by_status(self, std::chrono::seconds{5});
        return;
      }
      if (std::holds_alternative<agent::run_not_found>(*got)) {
        now.log->error("the agent server does not know run {} (any more)", turn.run_id);
        now.metrics->agent_error("run_lost");
        auto said = agent::trim_blank_lines(turn.text);
        finish_turn(self,
                    (said.empty() ? "" : said + "\n\n")
                      + "⚠️ The agent server no longer knows this run (it may have restarted), "
                        "so its answer is lost. Send your message again.",
                    journal_outcome::failed("run_lost"), false);
        return;
      }
      auto& status = std::get<agent::run_status>(*got);
      now.log->debug("run {} is {}", turn.run_id, status.status);
      if (!status.terminal()) {
        follow_by_status(self, poll_interval);
        return;
      }
      agent::run_end end;
      if (status.status == "completed")
        end = {agent::run_end_kind::completed, status.output, ""};
      else if (status.status == "failed")
        end = {agent::run_end_kind::failed, "", status.error.empty() ? "agent run failed"
                                                                     : status.error};
      else
        end = {agent::run_end_kind::cancelled, "", ""};
      end_run(self, end);
    });
}

} // namespace

void start_run(session_pointer self) {
  auto& st = self->state;
  auto& r = *st.current;
  r.runs = true;
  if (r.turn.run.empty()) {
    // Journaled before it is asked for: a restart from here on knows a run may exist.
    note_run(self, [self] { post_run(self); });
    return;
  }
  if (restore_run(self)) {
    st.log->info("following run {} of {} after a restart", r.run_id, r.turn.event_id);
    follow_by_status(self, caf::timespan{0});
    return;
  }
  if (st.backend && st.backend->idempotent_runs) {
    st.log->info("asking again for the run of {} (the server takes an idempotency key)",
                 r.turn.event_id);
    post_run(self);
    return;
  }
  st.log->warn("{} was being handed to the agent when hermes-matrix stopped; whether the "
               "agent got it cannot be known",
               r.turn.event_id);
  finish_turn(self,
              "⚠️ hermes-matrix restarted while it was handing this message to the agent, so "
              "it cannot tell whether the agent got it. Send it again if no answer comes.",
              journal_outcome::failed("run_unknown"), false);
}

void on_run_chunk(session_pointer self, const std::string& data) {
  auto& st = self->state;
  auto& r = *st.current;
  for (auto& item : r.run_decoder.feed(data)) {
    if (auto* delta = std::get_if<agent::text_delta>(&item)) {
      add_reply_text(self, delta->text);
    } else if (auto* tool = std::get_if<agent::tool_progress>(&item)) {
      r.tools.apply(*tool);
    } else if (auto* ask = std::get_if<agent::approval_request>(&item)) {
      ask_approval(self, std::move(*ask));
    } else if (auto* answered = std::get_if<agent::approval_responded>(&item)) {
      // The server's word that it took the answer; its 200 may come after the events.
      st.log->debug("run {}: the approval was answered ({})", r.run_id, answered->choice);
      if (r.approval && r.approval->answering)
        settle_approval(self, r.approval->outcome);
    } else if (auto* end = std::get_if<agent::run_end>(&item)) {
      r.run_ended = *end;
    } else if (auto* bad = std::get_if<agent::malformed>(&item)) {
      st.log->warn("the agent backend sent something unreadable: {}", bad->what);
    }
  }
}

void on_run_result(session_pointer self, const http_result& res) {
  auto& st = self->state;
  auto& r = *st.current;
  if (r.run_ended) {
    end_run(self, *r.run_ended);
    return;
  }
  // The stream ended before the run did (cut, or read by someone else): the run goes
  // on on the server, and its status tells how it ends.
  st.log->warn("the event stream of run {} ended early (HTTP {}{}); following it by its status",
               r.run_id, res.status, res.status == 0 ? ": " + res.error : "");
  follow_by_status(self, res.status == 0 ? std::chrono::seconds{2} : caf::timespan{0});
}

void run_tick(session_pointer self) {
  auto& st = self->state;
  auto& r = *st.current;
  auto now = self->clock().now();
  if (r.ask_again_at && now >= *r.ask_again_at) {
    r.ask_again_at.reset();
    if (r.repost) {
      r.repost = false;
      post_run(self);
    }
  }
  if (r.approval && !r.approval->answering && now >= r.approval->deadline) {
    st.log->info("nobody answered approval {} in time; the agent treats that as a no",
                 r.approval->prompt_txn);
    settle_approval(self, "⏱️ No answer in time: the command was not run");
  }
  // A run followed by its status has no call whose timeout would end it: the turn's
  // limit applies here (the run is stopped on the server as the turn is given up).
  auto age = std::chrono::system_clock::now()
             - std::chrono::system_clock::time_point{std::chrono::milliseconds{r.started_unix_ms}};
  if (r.poll_at && age > turn_limit) {
    st.log->error("run {} did not end within {} minutes; giving up on it", r.run_id,
                  std::chrono::duration_cast<std::chrono::minutes>(turn_limit).count());
    st.metrics->agent_error("run_timeout");
    abandon(self, "⚠️ The agent's run did not finish in time; it was stopped.",
            journal_outcome::failed("run_timeout"));
    return;
  }
  if (r.poll_at && now >= *r.poll_at && !r.polling)
    poll_run(self);
}

void on_approval_answer(session_pointer self, const approval_answer& answer) {
  auto& st = self->state;
  bool typed = answer.prompt_txn.empty();
  bool pending = st.current && st.current->approval;
  if (!pending || (!typed && answer.prompt_txn != st.current->approval->prompt_txn)) {
    if (typed)
      answer_in_room(self, answer, "Nothing is waiting for approval in this conversation.");
    return;
  }
  auto& r = *st.current;
  auto& a = *r.approval;
  if (st.config.approval_require_sender && answer.sender != r.turn.sender) {
    // Hermes' rule (MATRIX_APPROVAL_REQUIRE_SENDER): only the person who asked decides.
    st.log->info("ignoring an approval answer from {}: only {} who asked may answer",
                 answer.sender, r.turn.sender);
    if (typed)
      answer_in_room(self, answer, "Only the person who asked may answer this approval.");
    return;
  }
  auto choice = agent::parse_approval_choice(answer.choice);
  if (!choice || std::find(a.request.choices.begin(), a.request.choices.end(), *choice)
                   == a.request.choices.end()) {
    if (typed)
      answer_in_room(self, answer, "This approval does not take that answer.");
    return;
  }
  if (a.answering)
    return; // an answer is on its way already
  a.answering = true;
  a.outcome = std::string{emoji_of(*choice)} + " " + outcome_of(*choice) + " by " + answer.sender;
  st.log->info("{} answers approval {}: {}", answer.sender, a.prompt_txn,
               agent::to_string(*choice));
  auto event_id = r.turn.event_id;
  auto prompt = a.prompt_txn;
  auto call = run_call(self, agent::build_run_approval_request(st.config.agent_url,
                                                               st.config.agent_key.reveal(),
                                                               r.run_id, *choice));
  self->request(st.engine, caf::infinite, std::move(call))
    .then([self, event_id, prompt, answer](const http_result& res) {
      auto& now = self->state;
      if (!now.current || now.current->turn.event_id != event_id || !now.current->approval
          || now.current->approval->prompt_txn != prompt)
        return;
      if (res.status == 200) {
        settle_approval(self, now.current->approval->outcome);
        return;
      }
      if (res.status == 409 || res.status == 404) {
        now.log->info("approval {} was no longer pending on the server (HTTP {})", prompt,
                      res.status);
        settle_approval(self, "No longer pending: it timed out or the run ended");
        return;
      }
      now.current->approval->answering = false;
      now.log->error("the agent server did not take the approval answer (HTTP {}{})",
                     res.status, res.status == 0 ? ": " + res.error : "");
      answer_in_room(self, answer,
                     "The answer could not be passed to the agent (HTTP "
                       + std::to_string(res.status) + "); try again.");
    });
}

void stop_run(session_pointer self) {
  auto& st = self->state;
  if (!st.current || !st.current->runs || st.current->run_id.empty() || !st.backend
      || !st.backend->stop)
    return;
  auto run_id = st.current->run_id;
  st.log->info("stopping run {} on the server", run_id);
  if (st.current->approval) // a stopped run runs no command
    settle_approval(self, "No longer pending: the run was stopped");
  auto call = run_call(self, agent::build_run_stop_request(st.config.agent_url,
                                                           st.config.agent_key.reveal(), run_id));
  self->request(st.engine, caf::infinite, std::move(call))
    .then([self, run_id](const http_result& res) {
      if (res.status != 200 && res.status != 404)
        self->state.log->warn("the agent server did not stop run {} (HTTP {})", run_id,
                              res.status);
    });
}

} // namespace hm::agent_session_detail
