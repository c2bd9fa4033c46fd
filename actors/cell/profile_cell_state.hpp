#pragma once

// The state of a profile cell's own actor (the profile actor, the brain),
// shared by profile_cell.cpp (life cycle, sync batches) and
// profile_commands.cpp (the gateway commands).

#include "actors/cell/agent_session.hpp"
#include "actors/cell/homeserver.hpp"
#include "store/profile_store.hpp"
#include "messages/interfaces.hpp"
#include "metrics/profile_metrics.hpp"
#include "profiles/config.hpp"
#include "matrix/backoff.hpp"
#include "profiles/policy.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

namespace hm {

/// What the profile knows about a joined room.
struct room_info {
  std::set<std::string> members;     ///< joined members seen in state and timeline
  int64_t joined_member_count = -1;  ///< from the room summary, when the server sends it
  /// `members` is the whole list (fetched with /joined_members, then kept up to
  /// date from sync), not just the members that happened to show up in a sync.
  bool members_complete = false;
  bool encrypted = false;            ///< an m.room.encryption state event was seen
  std::set<std::string> bot_threads; ///< threads the bot takes part in
};

/// The last turn of a conversation, for /retry.
struct last_turn {
  agent_turn turn;
};

/// A turn whose message has an attachment: it starts once the media intake has it.
struct turn_awaiting_media {
  agent_turn turn;
  std::string session_key;
  std::optional<std::string> thread_root; ///< where notes about the media go
};

struct profile_cell_state {
  profiles::profile_config config;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<metrics::profile_metrics> metrics; ///< shared with the cell's children
  std::shared_ptr<profile_store> store;
  supervisor_actor supervisor;
  homeserver_link link;
  profiles::bot_identity bot;
  std::string device_id;
  sync_actor sync;
  outbox_actor outbox;
  crypto_actor crypto; ///< only when MATRIX_E2EE_MODE is optional or required
  /// The SAS verifications as the crypto actor last told them (for status).
  std::vector<verification_view> verifications;
  std::map<std::string, agent_session_actor> sessions; ///< by session key
  std::map<std::string, last_turn> last_turns;         ///< by session key
  std::map<std::string, room_info> rooms;
  std::set<std::string> direct_rooms;                  ///< from m.direct
  std::string soul;                                    ///< SOUL.md
  /// Journal entries being worked on in this life (a turn or a join running).
  std::set<std::string> in_progress;
  /// Turns waiting for their media intake, by event id.
  std::map<std::string, turn_awaiting_media> awaiting_media;
  /// Rooms told in this life that voice messages are not transcribed (told once).
  std::set<std::string> told_no_stt;
  /// Invites whose join failed for a passing reason (homeserver down, 5xx, 429):
  /// each is tried again after its own growing delay, by invite event id.
  std::map<std::string, matrix::backoff> join_retries;
  std::minstd_rand random{std::random_device{}()};
  caf::timestamp started;
  caf::timestamp last_sync{};
  uint64_t next_call = 1;
  bool serving = false;
  /// Draining for a move: no new turn starts (new events stay pending in the
  /// journal for the next holder); `drained` answers once the cell is idle.
  bool draining = false;
  bool drain_polling = false; ///< a look at the outbox is scheduled
  std::vector<caf::typed_response_promise<atom::ok>> drained;
  static inline const char* name = "profile";
};

using profile_cell_pointer = profile_cell_actor::stateful_pointer<profile_cell_state>;

/// The session of a conversation, spawned on first use.
agent_session_actor session_for(profile_cell_pointer self, const std::string& key);

/// Sends a durable reply to `event_id` (txn derived from it and `kind`).
void reply_in_room(profile_cell_pointer self, const std::string& room_id,
                   const std::string& event_id, const std::optional<std::string>& thread_root,
                   const std::string& kind, const std::string& text);

/// Runs a gateway command; returns the journal outcome (none while a turn it
/// started still runs: the turn finishes the entry).
std::optional<journal_outcome> run_command(profile_cell_pointer self, const profiles::command& cmd,
                        const profiles::room_facts& room, const profiles::incoming_message& msg);

/// Starts draining (profile_drain.cpp); the promise is kept until the cell is idle.
caf::result<atom::ok> start_drain(profile_cell_pointer self);

/// Answers the drain once nothing is in flight any more (called when work ends).
void check_drained(profile_cell_pointer self);

/// Queues a notification for the home room (profile_notify.cpp); replies with its txn id.
caf::result<std::string> notify_home_room(profile_cell_pointer self, const notification& n);

} // namespace hm
