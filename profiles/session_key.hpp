#pragma once

// Which agent session a Matrix message belongs to, where the reply goes, and the
// X-Hermes-Session-Id that names the session to the agent backend. Pure functions.

#include "profiles/config.hpp"
#include "profiles/policy.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hm::profiles {

/// The thread a message's conversation lives in, or none (the room's main timeline).
/// As Hermes `_resolve_message_context` (plugins/platforms/matrix/inbound_events.py):
/// - a message in a thread stays in it (its root), whatever the scope;
/// - in a DM, no new thread (MATRIX_DM_AUTO_THREAD and MATRIX_DM_MENTION_THREADS,
///   both off by default in Hermes, are not supported);
/// - in a group room a new thread rooted at this message starts when
///   MATRIX_SESSION_SCOPE=thread, or when the scope is auto and MATRIX_AUTO_THREAD is on;
///   MATRIX_SESSION_SCOPE=room pins the conversation to the main timeline.
[[nodiscard]] std::optional<std::string>
conversation_thread(const profile_config& config, const room_facts& room,
                    const incoming_message& msg);

/// The session key, exactly as Hermes' gateway/session.py `build_session_key` builds it
/// for Matrix with its defaults (group_sessions_per_user on, thread_sessions_per_user off):
///   DM:    agent:<ns>:matrix:dm:<room_id>[:<thread>]
///   group: agent:<ns>:matrix:group:<room_id>[:<thread>]      (a thread is shared)
///          agent:<ns>:matrix:group:<room_id>:<sender>         (no thread: per user)
/// <ns> is `main` for the default profile, `main~` for a profile named "main" (so it
/// cannot share the default's sessions) and the profile name otherwise
/// (`_session_key_namespace`). `thread` is conversation_thread().
[[nodiscard]] std::string session_key(std::string_view profile_name, const room_facts& room,
                                      const incoming_message& msg,
                                      const std::optional<std::string>& thread);

/// Where the reply to a message goes.
struct reply_target {
  std::optional<std::string> thread_root; // send with rel_type m.thread to this root
  std::string in_reply_to;                // m.in_reply_to (the triggering message)

  friend bool operator==(const reply_target&, const reply_target&) = default;
};

/// The reply answers the triggering message, inside conversation_thread() when there is
/// one (Hermes `_apply_relation_metadata`: reply_to is the message, thread_id the root;
/// with auto-thread in a group room the root is the message itself, so the reply starts
/// the thread). In a DM there is a thread only when the message was in one.
[[nodiscard]] reply_target reply_to(const incoming_message& msg,
                                    const std::optional<std::string>& thread);

/// The X-Hermes-Session-Id for a session: `<profile>-<32 hex digits>`, the first 128 bits
/// of SHA-256 over the session key. Stable across restarts and hosts, safe in a header
/// and a URL path, and free of what Hermes refuses in session ids (`..`, `/`, `\`, a
/// drive letter: gateway/session.py `_is_path_unsafe`). The key itself holds room, thread
/// and user ids, which need not reach the backend's logs.
[[nodiscard]] std::string session_id(std::string_view profile_name, std::string_view key);

} // namespace hm::profiles
