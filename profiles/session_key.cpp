#include "profiles/session_key.hpp"

#include "profiles/sha256.hpp"

namespace hm::profiles {

std::optional<std::string> conversation_thread(const profile_config& config,
                                               const room_facts& room,
                                               const incoming_message& msg) {
  // "Real thread roots are preserved above; synthetic roots (this event) follow policy"
  // (inbound_events.py `_resolve_message_context`).
  if (msg.thread_root)
    return msg.thread_root;
  if (room.is_dm)
    return std::nullopt;
  bool synthetic = config.scope == session_scope::thread ||
                   (config.scope != session_scope::room && config.auto_thread);
  if (synthetic)
    return msg.event_id;
  return std::nullopt;
}

std::string session_key(std::string_view profile_name, const room_facts& room,
                        const incoming_message& msg, const std::optional<std::string>& thread) {
  std::string key = "agent:";
  if (profile_name.empty() || profile_name == "default")
    key += "main";
  else if (profile_name == "main")
    key += "main~";
  else
    key += profile_name;
  key += room.is_dm ? ":matrix:dm:" : ":matrix:group:";
  key += room.room_id;
  if (thread) {
    key += ':';
    key += *thread;
  }
  // group_sessions_per_user: a group room outside a thread is one session per sender;
  // a thread is shared by everyone in it (thread_sessions_per_user off).
  if (!room.is_dm && !thread && !msg.sender.empty()) {
    key += ':';
    key += msg.sender;
  }
  return key;
}

reply_target reply_to(const incoming_message& msg, const std::optional<std::string>& thread) {
  return reply_target{thread, msg.event_id};
}

std::string session_id(std::string_view profile_name, std::string_view key) {
  std::string hex = sha256_hex(key);
  std::string out(profile_name.empty() ? std::string_view("default") : profile_name);
  out += '-';
  out += hex.substr(0, 32);
  return out;
}

} // namespace hm::profiles
