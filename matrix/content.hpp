#pragma once

// Content for what the bot sends: messages (plain, reply, thread reply), edits and
// reactions. Every message carries m.mentions ({} when nobody is mentioned), and the
// bot's own user id is never in it, so that a bot never pings itself (or loops on it).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hm::matrix {

enum class message_kind { text, notice }; // m.text or m.notice (configurable per profile)

/// The format value for HTML formatted_body.
inline constexpr std::string_view html_format = "org.matrix.custom.html";

struct outgoing_message {
  message_kind kind = message_kind::notice;
  std::string body;                          // plain text (Markdown source is fine)
  std::optional<std::string> formatted_body; // sanitized HTML; sets format
  std::vector<std::string> mention_user_ids; // who this message means to ping
  bool mention_room = false;                 // @room
};

/// {"msgtype", "body", ["format", "formatted_body"], "m.mentions"}. `own_user_id` is
/// removed from the mentions; duplicates are dropped (order kept).
[[nodiscard]] nlohmann::json plain_message_content(const outgoing_message& m,
                                             std::string_view own_user_id);

/// A reply: m.relates_to {m.in_reply_to {event_id}}. Callers usually also mention the
/// replied-to sender (the spec's advice), by putting them in mention_user_ids.
[[nodiscard]] nlohmann::json reply_content(const outgoing_message& m,
                                           std::string_view own_user_id,
                                           std::string_view in_reply_to);

/// A reply in a thread: {rel_type m.thread, event_id root, is_falling_back true,
/// m.in_reply_to {event_id latest}} — clients without threads show a reply to the
/// latest event in the thread.
[[nodiscard]] nlohmann::json thread_content(const outgoing_message& m,
                                            std::string_view own_user_id,
                                            std::string_view thread_root,
                                            std::string_view latest_event_id);

/// The m.relates_to of reply_content and thread_content, for content built elsewhere
/// (a media message goes into the same reply or thread as the text it belongs to).
[[nodiscard]] nlohmann::json reply_relation(std::string_view in_reply_to);
[[nodiscard]] nlohmann::json thread_relation(std::string_view thread_root,
                                             std::string_view latest_event_id);

/// An edit of `original_event_id`: top level body "* <body>" (and formatted), m.new_content
/// the full new message with its full m.mentions, m.relates_to m.replace. The top-level
/// m.mentions holds only users not already mentioned by the original
/// (`original_mentions`), so streaming edits do not ping anyone again.
/// In encrypted rooms the whole content is encrypted except m.relates_to (the crypto
/// layer moves it out).
[[nodiscard]] nlohmann::json edit_content(const outgoing_message& m,
                                          std::string_view own_user_id,
                                          std::string_view original_event_id,
                                          const std::vector<std::string>& original_mentions);

/// Homeservers refuse events over 64 KiB (the spec's limit, counted over the whole
/// event). Content we build leaves room for the envelope (and, encrypted, for base64).
inline constexpr std::size_t max_content_bytes = 40 * 1024;

/// Makes message or edit content fit `limit` bytes of JSON, dropping what clients can
/// do without, in this order: the edit's top-level formatted fallback, the edit's
/// top-level body (shortened to "* …"), formatted_body (plain text stays). A body that
/// alone is too large is the caller's to split (split.hpp); it is left as it is.
void fit_content(nlohmann::json& content, std::size_t limit = max_content_bytes);

/// m.reaction content: {m.relates_to {rel_type m.annotation, event_id, key}}.
[[nodiscard]] nlohmann::json reaction_content(std::string_view event_id, std::string_view key);

} // namespace hm::matrix
