#pragma once

// The media intake (issue 15, "In"): one short-lived actor per message with an
// attachment. It downloads the file through the http engine (authenticated media first,
// the older API when the homeserver has none), checks and decrypts an encrypted one,
// and makes it something the agent can take: an image as a data URL for the model, a
// voice message as its transcript, a document or video saved where Hermes keeps them
// with a note that names the path. It answers the profile cell with media_ready and ends.
//
// Detached (a thread of its own): decoding and scaling an image and writing a file block,
// and blocking work never runs on the scheduler's threads. Nothing here touches the
// store: the message was journaled before the intake started, so a crash while it
// downloads only means the journal starts it again.

#include "actors/cell/cell_context.hpp"
#include "matrix/media.hpp"
#include "profiles/media_settings.hpp"

#include <caf/fwd.hpp>

#include <filesystem>
#include <string>

namespace hm {

struct media_job {
  std::string event_id;
  matrix::media_message media;
  profiles::media_settings settings;
  std::filesystem::path hermes_home; ///< the profile's folder: its cache/ is Hermes'
};

/// Spawns the intake of one message, linked to the cell that asks (`parent`).
void spawn_media_intake(caf::local_actor* parent, const cell_context& ctx, media_job job);

/// "31.2 MB", "512 KB", "900 bytes": sizes as the person reads them.
[[nodiscard]] std::string human_size(std::uint64_t bytes);

} // namespace hm
