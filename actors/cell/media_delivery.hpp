#pragma once

// Media out (issue 15): the files an agent's reply names with `MEDIA:<path>` lines are
// sent into the room, in the reply's thread or reply context, one message each. One
// short-lived actor per reply: for each file it reads it (only from where the profile
// may send: store/outgoing_file.hpp), finds its kind from its bytes, makes a thumbnail
// of an image, encrypts it when the room is encrypted (the crypto actor says so; a
// file for an encrypted room is never uploaded in the clear), uploads it and queues its
// message in the outbox with a txn id derived from the answered event, so a reply that
// is redone after a crash sends each file's message once. It answers the agent session
// with media_delivered (the notes for files it could not send) and ends.
//
// Detached: reading a file and making a thumbnail block.

#include "actors/cell/cell_context.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hm {

struct delivery_job {
  std::string event_id;    ///< the message answered: the files' txn ids derive from it
  std::string room_id;
  std::string thread_root; ///< "" for none
  std::string in_reply_to;
  std::vector<std::string> paths; ///< as the agent wrote them, in order
  bool as_voice = false;          ///< [[audio_as_voice]]: audio goes as a voice message
  bool as_document = false;       ///< [[as_document]]: images go as files, not inline
  std::filesystem::path hermes_home;
  std::vector<std::filesystem::path> extra_roots; ///< HERMES_MATRIX_MEDIA_DIRS
  std::uint64_t max_bytes = 0;
  int max_files = 10;
  std::optional<crypto_actor> crypto; ///< with encryption on
  outbox_actor outbox;
  agent_session_actor session;        ///< gets media_delivered
};

/// Spawns the delivery of one reply's files, linked to `parent` (the agent session).
void spawn_media_delivery(caf::local_actor* parent, const cell_context& ctx, delivery_job job);

} // namespace hm
