#include "actors/cell/profile_cell.hpp"
#include "matrix/crypto/verification_flows.hpp"

#include "actors/cell/crypto.hpp"
#include "actors/cell/fault_switch.hpp"
#include "actors/cell/media_intake.hpp"
#include "actors/cell/outbox.hpp"
#include "actors/cell/profile_cell_state.hpp"
#include "logging/profile_log.hpp"
#include "actors/cell/sync.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/content.hpp"
#include "matrix/format.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"
#include "profiles/session_key.hpp"

#include <caf/actor_system.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

namespace hm {

namespace {

using namespace std::chrono_literals;

std::string read_soul(const std::filesystem::path& dir) {
  std::ifstream in{dir / "SOUL.md"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Calls the homeserver and hands the result to `then`.
template <class F>
void call(profile_cell_pointer self, const matrix::http_request& req, F then) {
  auto& st = self->state;
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then(std::move(then));
}

/// Counts a finished message by its journal outcome. Invites, commands, reactions and
/// turns cut short (stopped, interrupted) are no answered, ignored or failed message.
void count_outcome(metrics::profile_metrics& m, const journal_outcome& outcome) {
  using kind = journal_outcome::kind;
  if (outcome.about_an_invite())
    return;
  if (outcome.what == kind::answered) {
    m.message_answered();
  } else if (outcome.what == kind::ignored) {
    auto reason = outcome.detail;
    std::replace(reason.begin(), reason.end(), '-', '_'); // "not-a-message"
    m.message_ignored(reason);
  } else if (outcome.what == kind::failed) {
    m.message_failed();
  }
}

void finish_entry(profile_cell_pointer self, const std::string& event_id,
                  const journal_outcome& outcome) {
  auto& st = self->state;
  st.in_progress.erase(event_id);
  if (auto written = st.store->finish(event_id, outcome); !written) {
    self->quit(
      make_error(errc::store_failed, "cannot write the store: " + written.error().message));
    return;
  }
  count_outcome(*st.metrics, outcome);
  st.metrics->set_journal_backlog(st.store->pending_journal_count());
  check_drained(self);
}

// -- acting on journal entries -------------------------------------------------

profiles::room_facts facts_of(profile_cell_pointer self, const std::string& room_id,
                              const std::optional<std::string>& thread_root) {
  auto& st = self->state;
  profiles::room_facts room;
  room.room_id = room_id;
  auto& info = st.rooms[room_id];
  auto members = info.joined_member_count >= 0 ? static_cast<size_t>(info.joined_member_count)
                 : info.members_complete       ? info.members.size()
                                               : 0; // unknown
  room.is_dm = profiles::is_dm(st.direct_rooms.count(room_id) > 0, members);
  room.bot_in_thread = thread_root && info.bot_threads.count(*thread_root) > 0;
  return room;
}

/// Reads an admitted room message into what policy needs; nullopt when it is
/// not a readable m.room.message (logged and skipped, never fatal).
std::optional<profiles::incoming_message> read_message(const matrix::room_event& ev) {
  if (ev.type == "m.sticker") {
    // No msgtype, and never a reply or an edit: what policy needs is who and where.
    profiles::incoming_message msg;
    msg.event_id = ev.event_id;
    msg.sender = ev.sender;
    msg.msgtype = "m.sticker";
    if (auto rel = ev.content().find("m.relates_to"); rel != ev.content().end())
      if (auto relation = matrix::parse_relation(*rel))
        msg.thread_root = relation->thread_root();
    msg.is_redacted = ev.is_redacted();
    return msg;
  }
  auto content = matrix::parse_message_content(ev.content());
  if (!content)
    return std::nullopt;
  profiles::incoming_message msg;
  msg.event_id = ev.event_id;
  msg.sender = ev.sender;
  msg.msgtype = content->msgtype;
  bool is_reply = content->relates_to && content->relates_to->reply_to();
  msg.body = is_reply ? matrix::strip_reply_fallback(content->body) : content->body;
  if (content->formatted_body)
    msg.formatted_body = is_reply ? matrix::strip_reply_fallback_html(*content->formatted_body)
                                  : *content->formatted_body;
  if (content->mentions) {
    msg.has_mentions_field = true;
    msg.mentioned_user_ids = content->mentions->user_ids;
    msg.mentions_room = content->mentions->room;
  }
  if (content->relates_to) {
    msg.thread_root = content->relates_to->thread_root();
    msg.in_reply_to = content->relates_to->reply_to();
    msg.is_edit = content->relates_to->replaces().has_value();
  }
  msg.is_redacted = ev.is_redacted();
  return msg;
}

void act_on_plain_message(profile_cell_pointer self, const journal_entry& entry,
                          std::optional<matrix::room_event> ev, bool was_encrypted);
cell_context children_context(profile_cell_pointer self);

/// An m.room.encrypted event goes to the crypto actor first; what it decrypts is acted
/// on like any message (the plaintext stays in memory: the journal keeps the ciphertext).
void act_on_message(profile_cell_pointer self, const journal_entry& entry) {
  auto& st = self->state;
  auto raw = matrix::parse_bounded_json(entry.payload);
  std::optional<matrix::room_event> ev;
  if (raw)
    ev = matrix::to_room_event(std::move(*raw));
  if (!ev || ev->type != "m.room.encrypted") {
    act_on_plain_message(self, entry, std::move(ev), false);
    return;
  }
  if (!st.crypto) {
    finish_entry(self, entry.event_id, journal_outcome::ignored("encrypted"));
    return;
  }
  self->request(st.crypto, caf::infinite, decrypt_request{entry.room_id, std::move(*ev)})
    .then([self, entry](decryption& d) {
      auto& s = self->state;
      if (d.what == decryption::status::decrypted) {
        act_on_plain_message(self, entry, std::move(d.event), true);
      } else if (d.what == decryption::status::missing_key) {
        // Stays pending in the journal; the crypto actor sends atom::retry with its key.
        // If that takes too long the room hears that a message could not be read.
        s.in_progress.erase(entry.event_id);
        check_drained(self);
        if (s.config.undecryptable_notice_seconds > 0)
          self->delayed_send(self, std::chrono::seconds{s.config.undecryptable_notice_seconds},
                             atom::internal_v, atom::unreadable_v, entry.event_id);
      } else {
        finish_entry(self, entry.event_id, journal_outcome::ignored("undecryptable"));
      }
    });
}

/// A reaction answers an approval prompt when it is one of ours and its key one of the
/// choices; the sessions of the room decide whether it is theirs and the asker's.
void act_on_reaction(profile_cell_pointer self, const journal_entry& entry,
                     const matrix::room_event& ev, bool was_encrypted) {
  auto& st = self->state;
  if (st.config.e2ee == profiles::e2ee_mode::required && !was_encrypted) {
    finish_entry(self, entry.event_id, journal_outcome::ignored("plaintext"));
    return;
  }
  std::optional<matrix::relation> relation;
  if (auto relates = ev.content().find("m.relates_to"); relates != ev.content().end())
    relation = matrix::parse_relation(*relates);
  auto target = relation ? relation->annotates() : std::nullopt;
  auto choice = target ? profiles::approval_choice_of_reaction(relation->key.value_or(""))
                       : std::nullopt;
  // Only allowed users answer (the session further keeps it to the one who asked).
  if (!profiles::sender_allowed(st.config, ev.sender))
    choice.reset();
  auto prompt = choice ? st.store->txn_of_event(*target) : std::nullopt;
  if (!prompt) {
    finish_entry(self, entry.event_id, journal_outcome::ignored("reaction"));
    return;
  }
  for (auto& [_, session] : st.sessions)
    self->send(session, approval_answer{entry.room_id, entry.event_id, *prompt, *choice,
                                        ev.sender});
  finish_entry(self, entry.event_id, journal_outcome::reaction());
}

void act_on_plain_message(profile_cell_pointer self, const journal_entry& entry,
                          std::optional<matrix::room_event> ev, bool was_encrypted) {
  auto& st = self->state;
  // Test builds only (hermes-matrix-faulty): a fault the test armed for this profile.
  if (auto fault = fault_point(st.config.dir)) {
    self->quit(std::move(*fault));
    return;
  }
  if (ev && ev->type == "m.reaction") {
    act_on_reaction(self, entry, *ev, was_encrypted);
    return;
  }
  // A verification request or step is for the crypto actor, never for the agent.
  if (ev && matrix::crypto::is_verification_event(ev->type, ev->content())) {
    if (st.crypto)
      self->send(st.crypto, room_verification{entry.room_id, *ev});
    finish_entry(self, entry.event_id, journal_outcome::verification());
    return;
  }
  if (ev && ev->type != "m.room.message" && ev->type != "m.sticker") {
    finish_entry(self, entry.event_id, journal_outcome::ignored("not-a-message"));
    return;
  }
  auto msg = ev ? read_message(*ev) : std::nullopt;
  if (!msg) {
    st.log->warn("skipping {}: not a readable message", entry.event_id);
    finish_entry(self, entry.event_id, journal_outcome::ignored("malformed"));
    return;
  }
  // An attachment: what policy reads is its caption; the file itself is fetched only
  // once policy says the message is answered.
  std::optional<matrix::media_message> media;
  if (profiles::is_media_msgtype(msg->msgtype)) {
    auto parsed = matrix::parse_media_content(ev->content(), ev->type);
    if (!parsed) {
      st.log->warn("skipping {}: {}", entry.event_id, parsed.error().error);
      finish_entry(self, entry.event_id, journal_outcome::ignored("malformed"));
      return;
    }
    media = std::move(parsed).value();
    msg->body = media->caption;
  }
  // Under `required` only what was encrypted is answered (the outbox, through the crypto
  // actor, never sends plaintext into a room either).
  if (st.config.e2ee == profiles::e2ee_mode::required && !was_encrypted) {
    st.log->info("not answering {} in {}: it was not encrypted", entry.event_id,
                 entry.room_id);
    finish_entry(self, entry.event_id, journal_outcome::ignored("plaintext"));
    return;
  }
  if (was_encrypted)
    st.rooms[entry.room_id].encrypted = true;
  auto room = facts_of(self, entry.room_id, msg->thread_root);
  auto decision = profiles::decide(st.config, st.bot, room, *msg);
  switch (decision.what) {
    case profiles::verdict::ignore: {
      auto reason = profiles::to_string(*decision.reason);
      st.log->debug("ignoring {} from {}: {}", entry.event_id, msg->sender, reason);
      finish_entry(self, entry.event_id, journal_outcome::ignored(reason));
      return;
    }
    case profiles::verdict::command: {
      st.log->info("command /{} from {} in {}", profiles::to_string(decision.cmd->name),
                   msg->sender, entry.room_id);
      if (auto outcome = run_command(self, *decision.cmd, room, *msg))
        finish_entry(self, entry.event_id, *outcome);
      return;
    }
    case profiles::verdict::answer:
      break;
  }
  // The answer ended in the last life (its ✅ or ❌ is queued with its final text) and
  // only the journal did not hear of it before the stop: running it again would send a
  // second final text after the ✅.
  if (st.store->outcome_of_send(matrix::done_txn_id(entry.event_id)).state
      != send_outcome::unknown) {
    st.log->info("{} was answered before the last stop", entry.event_id);
    finish_entry(self, entry.event_id, journal_outcome::answered());
    return;
  }
  auto thread = profiles::conversation_thread(st.config, room, *msg);
  auto key = profiles::session_key(st.config.name, room, *msg, thread);
  auto target = profiles::reply_to(*msg, thread);
  if (thread) {
    st.rooms[entry.room_id].bot_threads.insert(*thread);
    if (auto written = st.store->remember_thread(entry.room_id, *thread); !written)
      st.log->warn("cannot note the thread in the store: {}", written.error().message);
  }
  agent_turn turn{entry.event_id,   entry.room_id,
                  msg->sender,      decision.text,
                  target.thread_root.value_or(""), target.in_reply_to,
                  room.is_dm,       ev->origin_server_ts, entry.run};
  turn.reply_begun = st.store->outcome_of_send(matrix::reply_txn_id(entry.event_id)).state
                     != send_outcome::unknown;
  // A run that already started (before a restart) goes on without its input again.
  if (media && entry.run.empty()) {
    st.awaiting_media[entry.event_id] = {std::move(turn), key, target.thread_root};
    spawn_media_intake(self, children_context(self),
                       {entry.event_id, std::move(*media), st.config.media, st.config.dir});
  } else {
    st.last_turns[key] = {turn};
    self->send(session_for(self, key), std::move(turn));
  }
  // Best effort: tells the sender the bot has seen the message.
  call(self, matrix::read_receipt_request(entry.room_id, entry.event_id),
       [](const http_result&) {});
}

/// A join that failed for a passing reason is tried again after a growing delay
/// (1 s .. 5 min) for as long as the invite stands; one refused for good
/// (M_FORBIDDEN: the invite was withdrawn, M_NOT_FOUND, ...) is given up.
void retry_join_later(profile_cell_pointer self, const std::string& event_id,
                      const std::string& room_id, const matrix::matrix_error& err) {
  auto& st = self->state;
  auto action = matrix::classify(err);
  if (action != matrix::error_action::retry) {
    st.log->error("cannot join {}: {}", room_id, matrix::to_string(err));
    st.join_retries.erase(event_id);
    finish_entry(self, event_id, journal_outcome::failed("join"));
    return;
  }
  auto& backoff = st.join_retries
                    .try_emplace(event_id, std::chrono::seconds{1}, std::chrono::minutes{5})
                    .first->second;
  auto wait = err.retry_after ? *err.retry_after : backoff.next_with(st.random);
  st.log->warn("cannot join {} yet ({}); trying again in {} ms", room_id,
               matrix::to_string(err), wait.count());
  // Not finished: the journal keeps the invite, so a restart tries again too.
  st.in_progress.erase(event_id);
  check_drained(self);
  self->delayed_send(self, wait, atom::retry_v, event_id);
}

void act_on_invite(profile_cell_pointer self, const journal_entry& entry) {
  auto& st = self->state;
  auto payload = matrix::parse_bounded_json(entry.payload);
  std::string inviter;
  bool is_direct = false;
  if (payload && payload->is_object()) {
    inviter = matrix::string_field(*payload, "inviter").value_or("");
    is_direct = matrix::bool_field(*payload, "is_direct").value_or(false);
  }
  auto room_id = entry.room_id;
  auto event_id = entry.event_id;
  if (!profiles::should_join(st.config, inviter)) {
    st.log->info("declining the invite to {} from {}: not an allowed user", room_id,
                 inviter.empty() ? "(unknown)" : inviter);
    call(self, matrix::leave_request(room_id), [self, event_id](const http_result& res) {
      finish_entry(self, event_id,
                   succeeded(res) ? journal_outcome::declined() : journal_outcome::failed("decline"));
    });
    return;
  }
  st.log->info("joining {} (invited by {})", room_id, inviter);
  call(self, matrix::join_request(room_id),
       [self, event_id, room_id, is_direct](const http_result& res) {
         auto& state = self->state;
         if (!succeeded(res)) {
           retry_join_later(self, event_id, room_id, to_matrix_error(res));
           return;
         }
         state.join_retries.erase(event_id);
         if (is_direct)
           state.direct_rooms.insert(room_id);
         finish_entry(self, event_id, journal_outcome::joined());
       });
}

/// Policy needs to know whether a room is a DM (two members). After a restart
/// the incremental sync does not repeat a room's members, so a room the
/// profile knows nothing about yet is asked for its members first.
void with_room_known(profile_cell_pointer self, const std::string& room_id,
                     std::function<void()> then) {
  auto& info = self->state.rooms[room_id];
  if (info.joined_member_count >= 0 || info.members_complete) {
    then();
    return;
  }
  call(self, matrix::joined_members_request(room_id),
       [self, room_id, then = std::move(then)](const http_result& res) {
         auto& room = self->state.rooms[room_id];
         if (succeeded(res)) {
           if (auto members = matrix::parse_joined_members(to_matrix_response(res))) {
             room.members.clear();
             for (auto& m : members.value())
               room.members.insert(m.user_id);
             room.members_complete = true;
           }
         } else {
           // Acting without the member count treats the room as a group room:
           // the safe side (a mention is needed), never a wrong answer.
           self->state.log->warn("cannot list the members of {}: {}", room_id,
                                 matrix::to_string(to_matrix_error(res)));
         }
         then();
       });
}

void act_on(profile_cell_pointer self, const journal_entry& entry) {
  auto& st = self->state;
  if (st.draining)
    return; // stays pending: the profile's next holder acts on it, once
  if (!st.in_progress.insert(entry.event_id).second)
    return;
  if (entry.kind == "invite")
    act_on_invite(self, entry);
  else
    with_room_known(self, entry.room_id, [self, entry] { act_on_message(self, entry); });
}

// -- sync batches --------------------------------------------------------------

void learn_room_state(room_info& info, const matrix::room_event& ev) {
  if (ev.type == "m.room.member" && ev.state_key) {
    auto member = matrix::parse_member_content(ev.content());
    if (member && member->membership == "join")
      info.members.insert(*ev.state_key);
    else
      info.members.erase(*ev.state_key);
  } else if (ev.type == "m.room.encryption" && ev.state_key) {
    info.encrypted = true;
  }
}

/// Admits the batch with its cursor (one transaction); returns the entries to
/// act on, or the store's error.
hm::expected<std::vector<journal_entry>> admit(profile_cell_pointer self,
                                               const sync_batch& batch) {
  auto& st = self->state;
  auto& resp = *batch.response;
  std::vector<journal_entry> entries;
  for (auto& [room_id, joined] : resp.join) {
    auto& info = st.rooms[room_id];
    for (auto& ev : joined.state)
      learn_room_state(info, ev);
    if (joined.summary && joined.summary->joined_member_count)
      info.joined_member_count = *joined.summary->joined_member_count;
    // The first sync of a profile is history, answered only after the bot's own last
    // message or reaction in the room: what came after it was sent to a bot that lost
    // its store (a new device restored from the key backup) or its cursor, and is
    // answered once now. A bot that never spoke in the room (its join is a state event)
    // answers none of its history.
    auto& events = joined.timeline.events;
    size_t history_end = 0; // events before it are history
    if (batch.initial) {
      auto own = std::find_if(events.rbegin(), events.rend(), [&](const matrix::room_event& ev) {
        return ev.sender == st.bot.user_id && !ev.state_key;
      });
      history_end = own == events.rend() ? events.size()
                                         : static_cast<size_t>(events.rend() - own);
    }
    for (size_t i = 0; i < events.size(); ++i) {
      auto& ev = events[i];
      if (ev.state_key)
        learn_room_state(info, ev);
      // Encrypted events only when this profile does encryption (with it off they stay
      // unanswered, as before).
      // Reactions too: a reaction on an approval prompt answers it.
      // In-room verification steps too: the crypto actor takes them (never the agent).
      bool wanted = ev.type == "m.room.message" || ev.type == "m.reaction" || ev.type == "m.sticker"
                    || (ev.type == "m.room.encrypted" && st.config.e2ee != profiles::e2ee_mode::off)
                    || (st.crypto && matrix::crypto::is_verification_event(ev.type, ev.content()));
      bool history = i < history_end
                     || (batch.initial && matrix::crypto::is_verification_event(ev.type, ev.content()));
      if (history || !wanted || ev.sender == st.bot.user_id)
        continue;
      entries.push_back({ev.event_id, room_id, "message", ev.raw.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace)});
    }
  }
  for (auto& [room_id, invited] : resp.invite) {
    nlohmann::json payload{{"inviter", invited.inviter(st.bot.user_id).value_or("")},
                           {"is_direct", invited.is_direct(st.bot.user_id)}};
    // Invites have no event id; the cursor names this sighting of the invite.
    entries.push_back({"invite|" + room_id + "|" + resp.next_batch, room_id, "invite",
                       payload.dump()});
  }
  for (auto& [room_id, _] : resp.leave)
    st.rooms.erase(room_id);
  if (resp.direct) {
    st.direct_rooms.clear();
    for (auto& [user, room_ids] : *resp.direct)
      st.direct_rooms.insert(room_ids.begin(), room_ids.end());
  }
  if (auto written = st.store->admit(entries, resp.next_batch); !written)
    return hm::unexpected{std::move(written).error()};
  st.metrics->set_journal_backlog(st.store->pending_journal_count());
  return entries;
}

/// Admits a sync batch and acts on what it admitted; the error that ended the cell.
std::optional<caf::error> take_batch(profile_cell_pointer self, const sync_batch& batch) {
  auto& st = self->state;
  auto admitted = admit(self, batch);
  if (!admitted) {
    auto& why = admitted.error().message;
    st.log->error("cannot write the store: {}", why);
    self->quit(make_error(errc::store_failed, "cannot write the store: " + why));
    return make_error(errc::store_failed, why);
  }
  st.last_sync = caf::make_timestamp();
  for (auto& entry : *admitted)
    if (!st.store->finished(entry.event_id))
      act_on(self, entry);
  return std::nullopt;
}

// -- start-up ------------------------------------------------------------------

/// What the cell's children are spawned with (once the bot's user id is known).
cell_context children_context(profile_cell_pointer self) {
  auto& st = self->state;
  return {st.link, st.store, st.bot.user_id, st.log, st.metrics,
          caf::actor_cast<profile_cell_actor>(self)};
}

/// Syncs, tells the supervisor the profile runs, and resumes what the journal holds.
void serve(profile_cell_pointer self) {
  auto& st = self->state;
  if (st.serving)
    return;
  st.sync = spawn_sync(self, children_context(self));
  st.serving = true;
  self->send(st.supervisor, cell_ready{st.config.name, st.bot.user_id, st.device_id});
  auto pending = st.store->pending_journal();
  st.metrics->set_journal_backlog(static_cast<int64_t>(pending.size()));
  if (!pending.empty())
    st.log->info("resuming {} message(s) admitted before the last stop", pending.size());
  for (auto& entry : pending)
    act_on(self, entry);
}

/// Spawns the crypto actor (when the profile has E2EE) and the outbox; serves at once
/// without a device, else once the crypto actor has published it.
void start_serving(profile_cell_pointer self) {
  auto& st = self->state;
  // The crypto actor first: every sync batch goes through it before the profile acts.
  if (st.config.e2ee != profiles::e2ee_mode::off)
    st.crypto = spawn_crypto(self, children_context(self),
                             crypto_config{st.device_id, st.config.pickle_key,
                                           st.config.e2ee == profiles::e2ee_mode::required,
                                           st.config.recovery_key,
                                           [config = st.config, bot = st.bot.user_id](
                                             const std::string& user) {
                                             return user == bot
                                                    || profiles::sender_allowed(config, user);
                                           },
                                           st.config.create_key_backup});
  st.outbox = spawn_outbox(self, children_context(self), st.crypto);
  // With a device to publish, the rest waits for the crypto actor's atom::published.
  if (!st.crypto)
    serve(self);
}

void learn_display_name(profile_cell_pointer self) {
  auto& st = self->state;
  call(self, matrix::displayname_request(st.bot.user_id), [self](const http_result& res) {
    if (succeeded(res)) {
      auto name = matrix::parse_displayname(to_matrix_response(res));
      if (name && name.value())
        self->state.bot.display_name = *name.value();
    }
    start_serving(self);
  });
}

/// Stops the cell for a failure of start-up a wait cannot fix; else starts again
/// (atom::start: login or whoami, from the top) after the wait the server asks for.
void retry_startup(profile_cell_pointer self, const matrix::matrix_error& err) {
  auto& st = self->state;
  switch (matrix::classify(err)) {
    case matrix::error_action::stop_profile:
      self->quit(make_error(errc::unauthorized,
                            "the homeserver rejected the credentials (" + err.errcode
                              + "); log in again and put the new MATRIX_ACCESS_TOKEN in "
                              + st.config.env_file.string()));
      return;
    case matrix::error_action::fail_request:
      self->quit(make_error(errc::bad_config, "the homeserver refused to start this profile: "
                                                + matrix::to_string(err)));
      return;
    default: {
      auto wait = err.retry_after.value_or(std::chrono::milliseconds{5000});
      st.log->warn("cannot reach the homeserver ({}); retrying in {} ms",
                   matrix::to_string(err), wait.count());
      self->delayed_send(self, wait, atom::internal_v, atom::start_v);
      return;
    }
  }
}

void whoami(profile_cell_pointer self) {
  call(self, matrix::whoami_request(), [self](const http_result& res) {
    auto& st = self->state;
    if (!succeeded(res)) {
      retry_startup(self, to_matrix_error(res));
      return;
    }
    auto who = matrix::parse_whoami(to_matrix_response(res));
    if (!who) {
      retry_startup(self, who.error());
      return;
    }
    if (!st.config.user_id.empty() && who->user_id != st.config.user_id) {
      self->quit(make_error(errc::bad_config,
                            "the access token belongs to " + who->user_id
                              + ", but MATRIX_USER_ID says " + st.config.user_id
                              + "; fix one of them in " + st.config.env_file.string()));
      return;
    }
    st.bot.user_id = who->user_id;
    st.device_id = who->device_id.value_or(st.config.device_id);
    if (!st.config.device_id.empty() && who->device_id && *who->device_id != st.config.device_id)
      st.log->warn("MATRIX_DEVICE_ID is {} but the access token is for device {}; using {}",
                   st.config.device_id, *who->device_id, *who->device_id);
    learn_display_name(self);
  });
}

/// A profile with a password and no token logs in once and keeps the token in
/// its store (not in .env), so that restarts reuse the same device.
void login(profile_cell_pointer self) {
  auto& st = self->state;
  if (auto token = st.store->get("access_token")) {
    st.link.access_token = secret{*token};
    whoami(self);
    return;
  }
  auto device = st.config.device_id.empty() ? st.store->get("device_id") : st.config.device_id;
  std::optional<std::string_view> device_view;
  if (device)
    device_view = *device;
  auto req = matrix::password_login_request(st.config.user_id, st.config.password.reveal(),
                                            device_view);
  call(self, req, [self](const http_result& res) {
    auto& state = self->state;
    if (!succeeded(res)) {
      retry_startup(self, to_matrix_error(res));
      return;
    }
    auto session = matrix::parse_login(to_matrix_response(res));
    if (!session) {
      retry_startup(self, session.error());
      return;
    }
    state.link.access_token = secret{session->access_token};
    if (auto written = state.store->put("access_token", session->access_token); !written) {
      self->quit(
        make_error(errc::store_failed, "cannot write the store: " + written.error().message));
      return;
    }
    (void) state.store->put("device_id", session->device_id);
    state.log->info("logged in as {} (device {})", session->user_id, session->device_id);
    whoami(self);
  });
}

void start(profile_cell_pointer self) {
  if (self->state.config.access_token.empty())
    login(self);
  else
    whoami(self);
}

} // namespace

agent_session_actor session_for(profile_cell_pointer self, const std::string& key) {
  auto& st = self->state;
  if (auto i = st.sessions.find(key); i != st.sessions.end())
    return i->second;
  agent_session_config cfg;
  cfg.profile = st.config.name;
  cfg.session_id = profiles::session_id(st.config.name, key);
  cfg.agent_url = st.config.agent_url;
  cfg.agent_key = st.config.agent_key;
  cfg.model = st.config.agent_model.empty() ? st.config.name : st.config.agent_model;
  cfg.soul = st.soul;
  cfg.send_history = st.config.send_history;
  cfg.own_user_id = st.bot.user_id;
  cfg.max_message_length = static_cast<size_t>(st.config.max_message_length);
  cfg.reactions = st.config.reactions;
  cfg.busy_mode = st.config.busy_queue ? profiles::busy_input_mode::queue
                                       : profiles::busy_input_mode::interrupt;
  cfg.silence_limit = std::chrono::seconds{st.config.agent_silence_s};
  cfg.approval_timeout = std::chrono::seconds{st.config.approval_timeout_s};
  cfg.approval_require_sender = st.config.approval_require_sender;
  cfg.hermes_home = st.config.dir;
  cfg.media = st.config.media;
  if (st.crypto)
    cfg.crypto = st.crypto;
  auto session = spawn_agent_session(self, children_context(self), std::move(cfg), st.outbox);
  st.sessions.emplace(key, session);
  return session;
}

void reply_in_room(profile_cell_pointer self, const std::string& room_id,
                   const std::string& event_id, const std::optional<std::string>& thread_root,
                   const std::string& kind, const std::string& text) {
  auto& st = self->state;
  auto m = matrix::formatted_message(text, matrix::message_kind::text);
  auto content = thread_root
                   ? matrix::thread_content(m, st.bot.user_id, *thread_root, event_id)
                   : matrix::reply_content(m, st.bot.user_id, event_id);
  self->request(st.outbox, caf::infinite,
                outgoing_event{room_id, "m.room.message",
                               content.dump(-1, ' ', false,
                                            nlohmann::json::error_handler_t::replace),
                               matrix::derive_txn_id(event_id, 0, kind), "", ""})
    .then([](atom::ok) {});
}

/// Where the store keeps a file upload's record until its message is queued.
std::string upload_key(const std::string& txn) {
  return "media.upload." + txn;
}

/// The media intake has the attachment of a message that is answered: the turn starts
/// with it, or the person hears why not (and the journal records the failure).
void media_arrived(profile_cell_pointer self, media_ready ready) {
  auto& st = self->state;
  auto i = st.awaiting_media.find(ready.event_id);
  if (i == st.awaiting_media.end())
    return;
  auto waiting = std::move(i->second);
  st.awaiting_media.erase(i);
  auto& turn = waiting.turn;
  if (!ready.refusal.empty()) {
    reply_in_room(self, turn.room_id, turn.event_id, waiting.thread_root, "media", ready.refusal);
    finish_entry(self, turn.event_id, journal_outcome::failed(ready.failure));
    return;
  }
  auto& stt = st.config.media.stt;
  if (!ready.transcript.empty() && stt.echo_transcripts)
    reply_in_room(self, turn.room_id, turn.event_id, waiting.thread_root, "transcript",
                  "🎙️ \"" + ready.transcript + "\"");
  if (ready.stt_missing && st.told_no_stt.insert(turn.room_id).second)
    reply_in_room(self, turn.room_id, turn.event_id, waiting.thread_root, "stt-missing",
                  "I cannot listen to voice messages yet: speech-to-text is not set up for "
                  "this profile. Set `stt.provider: openai` (or `groq`) in its config.yaml and "
                  "the key (VOICE_TOOLS_OPENAI_KEY or GROQ_API_KEY) in its .env; a local "
                  "whisper server works too, with STT_OPENAI_BASE_URL.");
  if (!ready.text.empty())
    turn.text = turn.text.empty() ? ready.text : ready.text + "\n\n" + turn.text;
  turn.image_urls = std::move(ready.image_urls);
  st.last_turns[waiting.session_key] = {turn};
  self->send(session_for(self, waiting.session_key), std::move(turn));
}

namespace {

profile_cell_actor::behavior_type profile_cell(profile_cell_pointer self,
                                               supervisor_actor supervisor,
                                               profiles::profile_config config,
                                               http_engine_actor engine,
                                               std::shared_ptr<metrics::profile_metrics> metrics) {
  auto& init = self->state;
  init.log = profile_logger(config.name, config.dir);
  init.metrics = std::move(metrics);
  init.config = std::move(config);
  init.supervisor = std::move(supervisor);
  init.started = caf::make_timestamp();
  init.link = {std::move(engine), init.config.homeserver, init.config.access_token,
               init.config.proxy};
  init.soul = read_soul(init.config.dir);
  // Everything the cell spawns is linked to it. A conversation that ended for
  // being idle exits normally and is forgotten; anything else takes the whole
  // cell down with it (and the supervisor restarts the cell).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (msg.reason == caf::exit_reason::normal) {
      for (auto i = st.sessions.begin(); i != st.sessions.end(); ++i)
        if (i->second.address() == msg.source) {
          st.last_turns.erase(i->first);
          st.sessions.erase(i);
          break;
        }
      return;
    }
    self->quit(msg.reason);
  });
  auto opened = profile_store::open(profile_store::path_for(init.config.dir));
  if (!opened) {
    init.log->error("cannot open the store: {}", opened.error().message);
    self->quit(make_error(errc::store_failed, opened.error().message));
  } else {
    init.store = std::move(*opened);
    init.log->info("profile cell started (store {})", init.store->path().string());
    if (auto pruned = init.store->prune(std::chrono::hours{24 * 7}); !pruned)
      init.log->warn("cannot prune the store: {}", pruned.error().message);
    for (auto& [room_id, thread_root] : init.store->bot_threads())
      init.rooms[room_id].bot_threads.insert(thread_root);
    self->attach_functor([log = init.log] { log->info("profile cell stopped; store closed"); });
    start(self);
  }
  return {
    [self](media_ready& ready) { media_arrived(self, std::move(ready)); },
    [self](atom::uploaded, const std::string& txn) -> std::string {
      auto& st = self->state;
      if (st.store->outcome_of_send(txn).state != send_outcome::unknown)
        return "queued";
      return st.store->get(upload_key(txn)).value_or("");
    },
    [self](atom::uploaded, const std::string& txn,
           const std::string& record) -> caf::result<atom::ok> {
      auto& st = self->state;
      auto written = record.empty() ? st.store->erase(upload_key(txn))
                                    : st.store->put(upload_key(txn), record);
      if (!written) {
        auto& why = written.error().message;
        self->quit(make_error(errc::store_failed, "cannot write the store: " + why));
        return make_error(errc::store_failed, why);
      }
      return atom::ok_v;
    },
    [self](atom::status) {
      auto& st = self->state;
      profile_status s;
      s.profile = st.config.name;
      s.state = st.serving ? profile_state::running : profile_state::starting;
      s.user_id = st.bot.user_id;
      s.device_id = st.device_id;
      s.since = st.started;
      s.last_sync = st.last_sync;
      s.synced = st.last_sync != caf::timestamp{};
      if (st.store)
        s.outbox_queue = st.store->pending_outbox_count();
      s.verifications = st.verifications;
      return s;
    },
    [self](atom::verify, std::vector<verification_view>& flows) {
      self->state.verifications = std::move(flows);
    },
    [self](atom::verify, outgoing_event& ev) {
      self->request(self->state.outbox, caf::infinite, std::move(ev)).then([](atom::ok) {});
    },
    [self](atom::verify, verification_action& a) -> caf::result<std::string> {
      auto& st = self->state;
      if (!st.crypto)
        return make_error(errc::unavailable, "profile " + st.config.name
                                               + " has no encryption (MATRIX_E2EE_MODE=off), "
                                                 "so nothing to verify");
      return self->delegate(st.crypto, atom::verify_v, std::move(a));
    },
    [](atom::ping) { return atom::ping_v; },
    [self](const sync_batch& batch) -> caf::result<atom::ok> {
      auto& st = self->state;
      if (!st.crypto) {
        if (auto err = take_batch(self, batch))
          return std::move(*err);
        return atom::ok_v;
      }
      // The crypto actor sees the batch's to-device events (room keys) and key counts
      // first, so that the room events of the same batch can be decrypted.
      auto rp = self->make_response_promise<atom::ok>();
      self->request(st.crypto, caf::infinite, batch)
        .then(
          [self, batch, rp](atom::ok) mutable {
            if (auto err = take_batch(self, batch))
              rp.deliver(std::move(*err));
            else
              rp.deliver(atom::ok_v);
          },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](const turn_done& done) { finish_entry(self, done.event_id, done.outcome); },
    [self](const turn_progress& p) -> caf::result<atom::ok> {
      if (auto written = self->state.store->note_run(p.event_id, p.run); !written) {
        auto& why = written.error().message;
        self->state.log->error("cannot journal the run of {}: {}", p.event_id, why);
        return make_error(errc::store_failed, "cannot write the store: " + why);
      }
      return atom::ok_v;
    },
    [self](atom::internal, atom::start) { start(self); },
    [self](atom::published) { serve(self); },
    [self](atom::retry, const std::string& event_id) {
      for (auto& entry : self->state.store->pending_journal())
        if (entry.event_id == event_id)
          act_on(self, entry);
    },
    [self](atom::notify, const notification& n) { return notify_home_room(self, n); },
    [self](atom::drain) { return start_drain(self); },
    [self](atom::internal, atom::tick) {
      self->state.drain_polling = false;
      check_drained(self);
    },
    [self](atom::internal, atom::unreadable, const std::string& event_id) {
      auto& st = self->state;
      // Still pending and not being acted on: its key has not come. One notice per
      // message: the txn id is derived from it, so a restart's second timer is the
      // same send, which the outbox and the homeserver recognise.
      if (st.in_progress.count(event_id) > 0)
        return;
      for (auto& entry : st.store->pending_journal())
        if (entry.event_id == event_id) {
          st.log->warn("{} in {} is still unreadable (its key has not arrived); telling the room",
                       event_id, entry.room_id);
          auto m = matrix::formatted_message(
            "I could not read a message: its encryption key has not reached me yet. "
            "I will answer it if the key arrives.",
            matrix::message_kind::notice);
          auto content = matrix::reply_content(m, st.bot.user_id, event_id);
          self->request(st.outbox, caf::infinite,
                        outgoing_event{entry.room_id, "m.room.message",
                                       content.dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace),
                                       matrix::derive_txn_id(event_id, 0, "unreadable"), "", ""})
            .then([](atom::ok) {});
        }
    },
  };
}

} // namespace

profile_cell_actor spawn_profile_cell(caf::actor_system& sys, supervisor_actor supervisor,
                                      const profiles::profile_config& config,
                                      http_engine_actor engine,
                                      std::shared_ptr<metrics::profile_metrics> metrics) {
  return sys.spawn(profile_cell, std::move(supervisor), config, std::move(engine),
                   std::move(metrics));
}

} // namespace hm
