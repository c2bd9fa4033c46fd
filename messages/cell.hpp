#pragma once

// Messages between the actors inside one profile cell. They never leave the
// node (a cell runs wholly on one node), so types that carry parsed JSON are
// allowed as unsafe (not serializable) message types.

#include "matrix/sync.hpp"
#include "store/journal_outcome.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace hm {

/// One /sync response, handed from the sync actor to the profile actor.
struct sync_batch {
  std::shared_ptr<const matrix::sync_response> response;
  /// The first sync of a new profile, or a fresh start after M_UNKNOWN_POS:
  /// its timeline is history, not something to answer.
  bool initial = false;
};

/// An admitted m.room.encrypted event, for the crypto actor to decrypt.
struct decrypt_request {
  std::string room_id;
  matrix::room_event event;
};

/// An admitted room event of an SAS verification (an m.room.message request or an
/// m.key.verification.* event, as sent or decrypted), for the crypto actor.
struct room_verification {
  std::string room_id;
  matrix::room_event event;
};

/// What became of a decrypt_request: the event as its sender sent it (with the
/// wrapper's relation), parked until its key arrives, or refused.
struct decryption {
  enum class status : uint8_t { decrypted, missing_key, refused };
  status what = status::refused;
  /// decrypted: the plaintext event, nullopt when it is no room event.
  std::optional<matrix::room_event> event;
  std::string reason; ///< missing_key, refused: why, for the log
};

/// An event the outbox is about to send, for the crypto actor to encrypt when its
/// room is encrypted.
struct encrypt_request {
  std::string room_id;
  std::string event_type;
  nlohmann::json content;
};

/// What to PUT for an encrypt_request: m.room.encrypted in an encrypted room, else the
/// event as given.
struct event_to_send {
  std::string event_type;
  nlohmann::json content;
};

/// A send the outbox persists before it acknowledges, and delivers exactly once
/// (the txn id makes a resend after a crash a no-op on the homeserver).
struct outgoing_event {
  std::string room_id;
  std::string event_type;
  std::string content; ///< JSON text
  std::string txn_id;
  /// For an edit of our own message: the txn of the original; the outbox puts
  /// the original's event id into m.relates_to.event_id once it is known.
  std::string relates_txn;
  /// A send queued earlier in the same room that this one vouches for (a turn's ✅
  /// after its reply's last text): it goes out only once the homeserver confirmed
  /// that one, and is dropped (and logged) if that one was refused.
  std::string after_txn;
  /// A decoration that yields to content (a turn's 👀): not sent once a message queued
  /// after it in the room is ready to go, so that under a rate limit the text takes
  /// its place instead of waiting behind it.
  bool yields = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outgoing_event& x) {
  return f(caf::meta::type_name("outgoing_event"), x.room_id, x.event_type, x.content,
           x.txn_id, x.relates_txn, x.after_txn, x.yields);
}

/// A streaming edit: not persisted (the final text is), coalesced so that only
/// the latest per original goes out, at most one edit per second per room.
struct progress_edit {
  std::string room_id;
  std::string original_txn;
  std::string content; ///< JSON text of the edit, m.relates_to.event_id filled in by the outbox
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress_edit& x) {
  return f(caf::meta::type_name("progress_edit"), x.room_id, x.original_txn, x.content);
}

/// One user message for an agent session to answer.
struct agent_turn {
  std::string event_id;   ///< the message answered (txn ids derive from it)
  std::string room_id;
  std::string sender;
  std::string text;       ///< what the user said, mention of the bot stripped
  std::string thread_root;///< reply in this thread ("" for none)
  std::string in_reply_to;///< the event the reply answers
  bool is_dm = false;
  int64_t origin_ts = 0;  ///< when the user sent it (homeserver's origin_server_ts, ms)
  /// What the journal holds of this turn's agent run (JSON text; "" for none): a turn
  /// resumed after a restart follows that run instead of starting the turn again.
  std::string run = {};
  /// The first message of its answer was queued before a restart (with the text of
  /// then): the answer lands as edits of it, since resending it would only give that
  /// message back (same txn).
  bool reply_begun = false;
  /// Images the person sent with this message, as data URLs for the model (issue 15).
  std::vector<std::string> image_urls = {};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_turn& x) {
  return f(caf::meta::type_name("agent_turn"), x.event_id, x.room_id, x.sender, x.text,
           x.thread_root, x.in_reply_to, x.is_dm, x.origin_ts, x.run, x.reply_begun,
           x.image_urls);
}

/// What the media intake made of a message's attachment, for the turn it belongs to.
struct media_ready {
  std::string event_id;
  /// Goes before the caption in what the agent reads: a document's note with its path,
  /// a voice message's transcript in quotes, or why a voice message was not transcribed.
  std::string text;
  std::vector<std::string> image_urls;
  /// The transcript of a voice message ("" for none), echoed to the room as 🎙️ when the
  /// profile's stt.echo_transcripts says so.
  std::string transcript;
  /// A voice message that could not be transcribed because no STT is configured.
  bool stt_missing = false;
  /// Non-empty: no turn; the person is told this, and the journal records `failure`.
  std::string refusal;
  std::string failure;
};

/// The files of a reply are sent (or could not be): `notes` name those that could not,
/// for the reply's final text.
struct media_delivered {
  std::string event_id;
  std::vector<std::string> notes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, media_delivered& x) {
  return f(caf::meta::type_name("media_delivered"), x.event_id, x.notes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, media_ready& x) {
  return f(caf::meta::type_name("media_ready"), x.event_id, x.text, x.image_urls,
           x.transcript, x.stt_missing, x.refusal, x.failure);
}

/// An agent session tells the journal where its turn's run stands (JSON text: the run
/// id, a pending approval), before it acts on what the run sends.
struct turn_progress {
  std::string event_id;
  std::string run = {};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, turn_progress& x) {
  return f(caf::meta::type_name("turn_progress"), x.event_id, x.run);
}

/// Someone answered an approval prompt: by a reaction on it, or by typing /approve or
/// /deny in the conversation.
struct approval_answer {
  std::string room_id;
  std::string event_id;   ///< the reaction or the command message
  std::string prompt_txn; ///< the prompt reacted to; "" for a typed answer (the pending one)
  std::string choice;     ///< "once", "session", "always", "deny"
  std::string sender;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, approval_answer& x) {
  return f(caf::meta::type_name("approval_answer"), x.room_id, x.event_id, x.prompt_txn,
           x.choice, x.sender);
}

/// An agent session finished a turn (answered, failed with a message in the
/// room, or stopped); the profile actor marks the journal entry done.
struct turn_done {
  std::string event_id;
  journal_outcome outcome; ///< answered, failed, stopped or interrupted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_outcome& x) {
  return f(caf::meta::type_name("journal_outcome"), x.what, x.detail);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, turn_done& x) {
  return f(caf::meta::type_name("turn_done"), x.event_id, x.outcome);
}

} // namespace hm

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::sync_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::decrypt_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::room_verification)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::decryption)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::encrypt_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::event_to_send)
