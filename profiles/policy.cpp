#include "profiles/policy.hpp"

#include <algorithm>

namespace hm::profiles {

namespace {

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool equal_ci(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [&](char x, char y) { return lower(x) == lower(y); });
}

decision ignore(ignore_reason r, bool mentioned = false) {
  decision d;
  d.what = verdict::ignore;
  d.reason = r;
  d.mentioned = mentioned;
  return d;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

/// `@_telegram_1:server` -> true; `@:server`, `@`, `` -> true (malformed).
bool bridge_or_system(std::string_view sender) {
  if (!sender.empty() && sender.front() == '@')
    sender.remove_prefix(1);
  std::string_view local = sender.substr(0, sender.find(':'));
  return local.empty() || local.front() == '_';
}

} // namespace

const char* to_string(ignore_reason r) {
  switch (r) {
    case ignore_reason::own_event: return "own_event";
    case ignore_reason::bridge_sender: return "bridge_sender";
    case ignore_reason::ignored_pattern: return "ignored_pattern";
    case ignore_reason::sender_not_allowed: return "sender_not_allowed";
    case ignore_reason::redacted: return "redacted";
    case ignore_reason::room_not_allowed: return "room_not_allowed";
    case ignore_reason::edit: return "edit";
    case ignore_reason::notice: return "notice";
    case ignore_reason::unsupported_msgtype: return "unsupported_msgtype";
    case ignore_reason::not_mentioned: return "not_mentioned";
    case ignore_reason::other_bot_command: return "other_bot_command";
    case ignore_reason::empty: return "empty";
  }
  return "empty";
}

const char* to_string(verdict v) {
  switch (v) {
    case verdict::answer: return "answer";
    case verdict::command: return "command";
    case verdict::ignore: return "ignore";
  }
  return "ignore";
}

const char* to_string(busy_action a) {
  switch (a) {
    case busy_action::interrupt: return "interrupt";
    case busy_action::queue: return "queue";
    case busy_action::reject_full: return "reject_full";
  }
  return "reject_full";
}

bool sender_allowed(const profile_config& config, std::string_view user_id) {
  if (user_id.empty())
    return false;
  if (config.allow_all_users)
    return true;
  return contains(config.allowed_users, "*") || contains(config.allowed_users, user_id);
}

bool should_join(const profile_config& config, std::string_view inviter) {
  if (bridge_or_system(inviter) && !contains(config.allowed_users, inviter))
    return false;
  return sender_allowed(config, inviter) && !sender_ignored(config, inviter);
}

bool is_dm(bool in_m_direct, std::size_t joined_members) {
  return in_m_direct || (joined_members > 0 && joined_members <= 2);
}

busy_action on_busy(busy_input_mode mode, std::size_t queued) {
  if (mode == busy_input_mode::interrupt)
    return busy_action::interrupt;
  return queued < max_queued_messages ? busy_action::queue : busy_action::reject_full;
}

bool is_media_msgtype(std::string_view msgtype) {
  return msgtype == "m.image" || msgtype == "m.audio" || msgtype == "m.video"
         || msgtype == "m.file" || msgtype == "m.sticker";
}

decision decide(const profile_config& config, const bot_identity& bot, const room_facts& room,
                const incoming_message& msg) {
  // 1-4: who sent it.
  if (bot.user_id.empty() || equal_ci(msg.sender, bot.user_id))
    return ignore(ignore_reason::own_event);
  if (bridge_or_system(msg.sender) && !contains(config.allowed_users, msg.sender))
    return ignore(ignore_reason::bridge_sender);
  if (sender_ignored(config, msg.sender))
    return ignore(ignore_reason::ignored_pattern);
  if (!sender_allowed(config, msg.sender))
    return ignore(ignore_reason::sender_not_allowed);
  // 5-10: what it is and where.
  if (msg.is_redacted)
    return ignore(ignore_reason::redacted);
  if (!room.is_dm && !config.allowed_rooms.empty() && !contains(config.allowed_rooms, room.room_id))
    return ignore(ignore_reason::room_not_allowed);
  if (msg.is_edit)
    return ignore(ignore_reason::edit);
  if (msg.msgtype == "m.notice" && !config.process_notices)
    return ignore(ignore_reason::notice);
  bool emote = msg.msgtype == "m.emote";
  bool media = is_media_msgtype(msg.msgtype);
  if (msg.msgtype != "m.text" && msg.msgtype != "m.notice" && !emote && !media)
    return ignore(ignore_reason::unsupported_msgtype);
  if (blank(msg.body) && !media)
    return ignore(ignore_reason::empty);

  mention_sources sources{msg.body, msg.formatted_body, &msg.mentioned_user_ids};
  bool mentioned = mentions_bot(sources, bot);
  // "Hermes Coder: /new" is a command too: Hermes strips the mention before it looks
  // for the leading `/` (inbound_events.py `_build_inbound_event`).
  std::string text = mentioned ? strip_mention(msg.body, bot) : std::string(msg.body);

  // 11: commands, before the mention gate (a caption is never a command).
  if (!emote && !media) {
    command_parse parsed = parse_command(text, bot.user_id);
    if (parsed.what == command_parse::kind::command) {
      decision d;
      d.what = verdict::command;
      d.cmd = std::move(parsed.cmd);
      d.mentioned = mentioned;
      return d;
    }
    if (parsed.what == command_parse::kind::other_bot)
      return ignore(ignore_reason::other_bot_command, mentioned);
  }

  // 12: the mention gate of group rooms.
  bool free_room = contains(config.free_response_rooms, room.room_id);
  bool in_bot_thread = msg.thread_root.has_value() && room.bot_in_thread;
  if (!room.is_dm && config.require_mention && !free_room && !in_bot_thread && !mentioned)
    return ignore(ignore_reason::not_mentioned);

  // 13: answer.
  if (blank(text) && !media)
    return ignore(ignore_reason::empty, mentioned);
  decision d;
  d.what = verdict::answer;
  d.mentioned = mentioned;
  d.text = emote ? "* " + msg.sender + " " + text : std::move(text);
  return d;
}

} // namespace hm::profiles
