#pragma once

#include "actors/cell/cell_context.hpp"
#include "messages/interfaces.hpp"
#include "profiles/media_settings.hpp"
#include "profiles/policy.hpp"
#include "profiles/secret.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace hm {

/// What an agent session needs to know about its profile and backend.
struct agent_session_config {
  std::string profile;       ///< Hermes profile name
  std::string session_id;    ///< X-Hermes-Session-Id of this conversation
  std::string agent_url;     ///< GATEWAY_PROXY_URL
  secret agent_key;          ///< GATEWAY_PROXY_KEY
  std::string model;         ///< the `model` of each request
  std::string soul;          ///< SOUL.md, the system prompt for plain backends
  /// Send SOUL.md and the history in `messages`; unset: until the backend shows
  /// it keeps sessions itself (a `hermes` block in a reply).
  std::optional<bool> send_history;
  std::string own_user_id;   ///< never mentioned in our own messages
  std::size_t max_message_length = 16000;
  bool reactions = true;     ///< 👀 while working, then ✅ or ❌
  /// A message for a busy session interrupts the running turn (Hermes' default)
  /// or waits for it.
  profiles::busy_input_mode busy_mode = profiles::busy_input_mode::interrupt;
  /// A backend that sends nothing (not even a keepalive, which Hermes sends every
  /// 30 s) for this long is considered gone (HERMES_MATRIX_AGENT_SILENCE).
  std::chrono::seconds silence_limit{120};
  /// How long an approval prompt waits (MATRIX_APPROVAL_TIMEOUT_SECONDS).
  std::chrono::seconds approval_timeout{300};
  /// Only the person who asked may answer an approval (MATRIX_APPROVAL_REQUIRE_SENDER).
  bool approval_require_sender = true;
  /// Where the files a reply sends may come from, and how many and how large.
  std::filesystem::path hermes_home;
  profiles::media_settings media;
  /// The profile's crypto actor (encryption on): whether a room's files are encrypted.
  std::optional<crypto_actor> crypto;
};

/// Spawns the session of one conversation, linked to its cell. Each turn calls
/// the backend (`/v1/chat/completions`, `stream: true`) through the node's http
/// engine and streams the reply into the room: posted as soon as text arrives,
/// grown by edits, and the final text always lands. Turns that arrive while
/// one runs interrupt it or wait (at most 32), as `busy_mode` says. Errors become a short message in the room.
/// Request durations, time to first token and errors by kind are counted in `metrics`.
/// The agent backend is reached through the cell's http engine (ctx.link.engine).
[[nodiscard]] agent_session_actor
spawn_agent_session(caf::local_actor* cell_self, const cell_context& ctx,
                    agent_session_config config, outbox_actor outbox);

} // namespace hm
