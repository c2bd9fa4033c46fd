#include "matrix/events.hpp"

#include "matrix/bounded_json.hpp"

namespace hm::matrix {

namespace {

const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

const nlohmann::json& content_of(const nlohmann::json& raw) {
  const auto* c = object_field(raw, "content");
  return c != nullptr ? *c : empty_object();
}

template <class T>
std::optional<T> fail(std::string* why, const char* reason) {
  if (why != nullptr)
    *why = reason;
  return std::nullopt;
}

} // namespace

// ---- events ---------------------------------------------------------------------------

const nlohmann::json& room_event::content() const { return content_of(raw); }
const nlohmann::json& stripped_event::content() const { return content_of(raw); }
const nlohmann::json& basic_event::content() const { return content_of(raw); }

bool room_event::is_redacted() const {
  const auto* u = object_field(raw, "unsigned");
  return u != nullptr && find_field(*u, "redacted_because") != nullptr;
}

std::optional<std::string> room_event::redacts() const {
  if (type != "m.room.redaction")
    return std::nullopt;
  if (auto r = string_field(content(), "redacts"))
    return r;
  return string_field(raw, "redacts");
}

std::optional<std::string> room_event::transaction_id() const {
  const auto* u = object_field(raw, "unsigned");
  return u != nullptr ? string_field(*u, "transaction_id") : std::nullopt;
}

std::optional<room_event> to_room_event(nlohmann::json raw, std::string* why) {
  if (!raw.is_object())
    return fail<room_event>(why, "event is not an object");
  auto type = string_field(raw, "type");
  if (!type)
    return fail<room_event>(why, "missing or non-string type");
  auto sender = string_field(raw, "sender");
  if (!sender)
    return fail<room_event>(why, "missing or non-string sender");
  auto event_id = string_field(raw, "event_id");
  if (!event_id)
    return fail<room_event>(why, "missing or non-string event_id");
  if (const auto* c = find_field(raw, "content"); c == nullptr || !c->is_object())
    return fail<room_event>(why, "missing or non-object content");
  std::optional<std::string> state_key;
  if (const auto* sk = find_field(raw, "state_key")) {
    if (!sk->is_string())
      return fail<room_event>(why, "non-string state_key");
    state_key = sk->get<std::string>();
  }
  // origin_server_ts is required by the spec, but a missing timestamp does not make the
  // event unusable for a bot; only a wrong type does.
  std::int64_t ts = 0;
  if (find_field(raw, "origin_server_ts") != nullptr) {
    auto t = int_field(raw, "origin_server_ts");
    if (!t)
      return fail<room_event>(why, "non-integer origin_server_ts");
    ts = *t;
  }
  room_event e;
  e.type = std::move(*type);
  e.sender = std::move(*sender);
  e.event_id = std::move(*event_id);
  e.state_key = std::move(state_key);
  e.origin_server_ts = ts;
  e.raw = std::move(raw);
  return e;
}

void take_clear_relation(nlohmann::json& decrypted, const room_event& wrapper) {
  if (!decrypted.is_object())
    return;
  auto content = decrypted.find("content");
  if (content == decrypted.end() || !content->is_object() || content->contains("m.relates_to"))
    return;
  auto& outer = wrapper.content();
  if (auto r = outer.find("m.relates_to"); r != outer.end())
    (*content)["m.relates_to"] = *r;
}

std::optional<stripped_event> to_stripped_event(nlohmann::json raw, std::string* why) {
  if (!raw.is_object())
    return fail<stripped_event>(why, "stripped event is not an object");
  auto type = string_field(raw, "type");
  auto sender = string_field(raw, "sender");
  auto state_key = string_field(raw, "state_key");
  if (!type)
    return fail<stripped_event>(why, "missing or non-string type");
  if (!sender)
    return fail<stripped_event>(why, "missing or non-string sender");
  if (!state_key)
    return fail<stripped_event>(why, "missing or non-string state_key");
  if (const auto* c = find_field(raw, "content"); c == nullptr || !c->is_object())
    return fail<stripped_event>(why, "missing or non-object content");
  stripped_event e;
  e.type = std::move(*type);
  e.sender = std::move(*sender);
  e.state_key = std::move(*state_key);
  e.raw = std::move(raw);
  return e;
}

std::optional<basic_event> to_basic_event(nlohmann::json raw, bool require_sender,
                                          std::string* why) {
  if (!raw.is_object())
    return fail<basic_event>(why, "event is not an object");
  auto type = string_field(raw, "type");
  if (!type)
    return fail<basic_event>(why, "missing or non-string type");
  std::string sender;
  if (require_sender) {
    auto s = string_field(raw, "sender");
    if (!s)
      return fail<basic_event>(why, "missing or non-string sender");
    sender = std::move(*s);
  }
  if (const auto* c = find_field(raw, "content"); c == nullptr || !c->is_object())
    return fail<basic_event>(why, "missing or non-object content");
  basic_event e;
  e.type = std::move(*type);
  e.sender = std::move(sender);
  e.raw = std::move(raw);
  return e;
}

// ---- relations and mentions -----------------------------------------------------------

std::optional<std::string> relation::thread_root() const {
  return rel_type == "m.thread" ? event_id : std::nullopt;
}
std::optional<std::string> relation::replaces() const {
  return rel_type == "m.replace" ? event_id : std::nullopt;
}
std::optional<std::string> relation::annotates() const {
  return rel_type == "m.annotation" ? event_id : std::nullopt;
}
std::optional<std::string> relation::reply_to() const {
  if (rel_type == "m.thread" && is_falling_back)
    return std::nullopt;
  return in_reply_to;
}

std::optional<relation> parse_relation(const nlohmann::json& r) {
  if (!r.is_object())
    return std::nullopt;
  relation rel;
  rel.rel_type = string_field(r, "rel_type");
  rel.event_id = string_field(r, "event_id");
  rel.key = string_field(r, "key");
  rel.is_falling_back = bool_field(r, "is_falling_back").value_or(false);
  if (const auto* irt = object_field(r, "m.in_reply_to"))
    rel.in_reply_to = string_field(*irt, "event_id");
  // A rel_type without its target is no relation we can act on.
  if (rel.rel_type && !rel.event_id)
    rel.rel_type.reset();
  if (!rel.rel_type && !rel.in_reply_to)
    return std::nullopt;
  return rel;
}

std::optional<intentional_mentions> parse_mentions(const nlohmann::json& m) {
  if (!m.is_object())
    return std::nullopt;
  intentional_mentions out;
  if (const auto* ids = array_field(m, "user_ids"))
    for (const auto& id : *ids)
      if (id.is_string())
        out.user_ids.push_back(id.get<std::string>());
  out.room = bool_field(m, "room").value_or(false);
  return out;
}

std::optional<message_body> parse_message_body(const nlohmann::json& c) {
  if (!c.is_object())
    return std::nullopt;
  auto msgtype = string_field(c, "msgtype");
  auto body = string_field(c, "body");
  if (!msgtype || !body)
    return std::nullopt;
  message_body m;
  m.msgtype = std::move(*msgtype);
  m.body = std::move(*body);
  m.format = string_field(c, "format");
  m.formatted_body = string_field(c, "formatted_body");
  if (const auto* mm = find_field(c, "m.mentions"))
    m.mentions = parse_mentions(*mm);
  return m;
}

std::optional<message_content> parse_message_content(const nlohmann::json& c) {
  auto body = parse_message_body(c);
  if (!body)
    return std::nullopt;
  message_content m;
  static_cast<message_body&>(m) = std::move(*body);
  if (const auto* r = find_field(c, "m.relates_to"))
    m.relates_to = parse_relation(*r);
  if (const auto* nc = find_field(c, "m.new_content"))
    m.new_content = parse_message_body(*nc);
  return m;
}

// ---- reply fallbacks ------------------------------------------------------------------

std::string strip_reply_fallback(std::string_view body) {
  std::size_t pos = 0;
  bool any = false;
  while (pos < body.size() && body[pos] == '>') {
    any = true;
    auto nl = body.find('\n', pos);
    if (nl == std::string_view::npos)
      return {}; // the whole body is a quote: nothing of the reply remains
    pos = nl + 1;
  }
  if (!any)
    return std::string{body};
  if (pos < body.size() && body[pos] == '\n')
    ++pos; // the empty line between the fallback and the reply
  return std::string{body.substr(pos)};
}

std::string strip_reply_fallback_html(std::string_view html) {
  constexpr std::string_view open = "<mx-reply>";
  constexpr std::string_view close = "</mx-reply>";
  auto start = html.find(open);
  if (start == std::string_view::npos)
    return std::string{html};
  auto end = html.find(close, start + open.size());
  if (end == std::string_view::npos)
    return std::string{html};
  std::string out{html.substr(0, start)};
  out += html.substr(end + close.size());
  return out;
}

// ---- state content --------------------------------------------------------------------

std::optional<member_content> parse_member_content(const nlohmann::json& c) {
  auto membership = string_field(c, "membership");
  if (!membership)
    return std::nullopt;
  member_content m;
  m.membership = std::move(*membership);
  m.displayname = string_field(c, "displayname");
  m.reason = string_field(c, "reason");
  m.is_direct = bool_field(c, "is_direct").value_or(false);
  return m;
}

std::optional<encryption_content> parse_encryption_content(const nlohmann::json& c) {
  auto algorithm = string_field(c, "algorithm");
  if (!algorithm)
    return std::nullopt;
  encryption_content e;
  e.algorithm = std::move(*algorithm);
  e.rotation_period_ms = int_field(c, "rotation_period_ms");
  e.rotation_period_msgs = int_field(c, "rotation_period_msgs");
  return e;
}

direct_rooms parse_direct_content(const nlohmann::json& c) {
  direct_rooms out;
  if (!c.is_object())
    return out;
  for (const auto& [user, rooms] : c.items()) {
    if (!rooms.is_array())
      continue;
    std::vector<std::string> ids;
    for (const auto& r : rooms)
      if (r.is_string())
        ids.push_back(r.get<std::string>());
    out.emplace_back(user, std::move(ids));
  }
  return out;
}

} // namespace hm::matrix
