#include "matrix/content.hpp"

#include <algorithm>

namespace hm::matrix {

namespace {

using nlohmann::json;

std::vector<std::string> clean_mentions(const std::vector<std::string>& ids,
                                        std::string_view own_user_id,
                                        const std::vector<std::string>& exclude = {}) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    if (id.empty() || id == own_user_id)
      continue;
    if (std::find(out.begin(), out.end(), id) != out.end())
      continue;
    if (std::find(exclude.begin(), exclude.end(), id) != exclude.end())
      continue;
    out.push_back(id);
  }
  return out;
}

json mentions_json(const std::vector<std::string>& user_ids, bool room) {
  json m = json::object();
  if (!user_ids.empty())
    m["user_ids"] = user_ids;
  if (room)
    m["room"] = true;
  return m;
}

json body_json(const outgoing_message& m, std::string_view own_user_id,
               std::string_view prefix = {}) {
  json c = {
      {"msgtype", m.kind == message_kind::notice ? "m.notice" : "m.text"},
      {"body", std::string{prefix} + m.body},
  };
  if (m.formatted_body) {
    c["format"] = html_format;
    c["formatted_body"] = std::string{prefix} + *m.formatted_body;
  }
  c["m.mentions"] = mentions_json(clean_mentions(m.mention_user_ids, own_user_id),
                                  m.mention_room);
  return c;
}

} // namespace

json plain_message_content(const outgoing_message& m, std::string_view own_user_id) {
  return body_json(m, own_user_id);
}

json reply_content(const outgoing_message& m, std::string_view own_user_id,
                   std::string_view in_reply_to) {
  auto c = body_json(m, own_user_id);
  c["m.relates_to"] = reply_relation(in_reply_to);
  return c;
}

json thread_content(const outgoing_message& m, std::string_view own_user_id,
                    std::string_view thread_root, std::string_view latest_event_id) {
  auto c = body_json(m, own_user_id);
  c["m.relates_to"] = thread_relation(thread_root, latest_event_id);
  return c;
}

json reply_relation(std::string_view in_reply_to) {
  return {{"m.in_reply_to", {{"event_id", in_reply_to}}}};
}

json thread_relation(std::string_view thread_root, std::string_view latest_event_id) {
  return {
      {"rel_type", "m.thread"},
      {"event_id", thread_root},
      {"is_falling_back", true},
      {"m.in_reply_to", {{"event_id", latest_event_id}}},
  };
}

json edit_content(const outgoing_message& m, std::string_view own_user_id,
                  std::string_view original_event_id,
                  const std::vector<std::string>& original_mentions) {
  auto c = body_json(m, own_user_id, "* ");
  c["m.new_content"] = body_json(m, own_user_id);
  c["m.mentions"] = mentions_json(
      clean_mentions(m.mention_user_ids, own_user_id, original_mentions),
      // @room in the top level would ping the whole room again on every streamed
      // edit; m.new_content keeps it for clients rendering the final message.
      false);
  c["m.relates_to"] = {{"rel_type", "m.replace"}, {"event_id", original_event_id}};
  return c;
}

namespace {

std::size_t json_size(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

} // namespace

void fit_content(json& content, std::size_t limit) {
  if (json_size(content) <= limit)
    return;
  bool is_edit = content.contains("m.new_content") && content["m.new_content"].is_object();
  if (is_edit) {
    // Clients that understand edits show m.new_content; the top level is only a
    // fallback for old clients.
    content.erase("format");
    content.erase("formatted_body");
    if (json_size(content) <= limit)
      return;
    content["body"] = "* …";
    if (json_size(content) <= limit)
      return;
    content["m.new_content"].erase("format");
    content["m.new_content"].erase("formatted_body");
    return;
  }
  content.erase("format");
  content.erase("formatted_body");
}

json reaction_content(std::string_view event_id, std::string_view key) {
  return {{"m.relates_to",
           {{"rel_type", "m.annotation"}, {"event_id", event_id}, {"key", key}}}};
}

} // namespace hm::matrix
