#include "matrix/client_api.hpp"

#include "matrix/bounded_json.hpp"

namespace hm::matrix {

namespace {

using nlohmann::json;

std::string path(std::initializer_list<std::string_view> literal_and_ids) {
  // Alternating: literal path text, then an id to encode, then literal, ...
  std::string out{client_v3};
  bool encode = false;
  for (auto part : literal_and_ids) {
    out += encode ? percent_encode(part) : std::string{part};
    encode = !encode;
  }
  return out;
}

http_request make(http_method m, std::string target, std::optional<json> body = {}) {
  http_request r;
  r.method = m;
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

bool is_success(int status) { return status >= 200 && status < 300; }

result<std::string> required_string(const http_response& r, std::string_view what,
                                    std::string_view key) {
  auto obj = success_object(r, what);
  if (!obj)
    return hm::unexpected{obj.error()};
  auto v = string_field(obj.value(), key);
  if (!v)
    return hm::unexpected{bad_response(r.status,
                        std::string{what} + ": missing string \"" + std::string{key} + "\"")};
  return std::move(*v);
}

} // namespace

result<json> success_object(const http_response& r, std::string_view what) {
  if (!is_success(r.status))
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{64, 64u << 20}, &why);
  if (!j)
    return hm::unexpected{bad_response(r.status, std::string{what} + ": " + why)};
  if (!j->is_object())
    return hm::unexpected{bad_response(r.status, std::string{what} + ": body is not a JSON object")};
  return std::move(*j);
}

// ---- account --------------------------------------------------------------------------

http_request whoami_request() { return make(http_method::get, path({"/account/whoami"})); }

result<whoami_response> parse_whoami(const http_response& r) {
  auto obj = success_object(r, "whoami");
  if (!obj)
    return hm::unexpected{obj.error()};
  auto user_id = string_field(obj.value(), "user_id");
  if (!user_id)
    return hm::unexpected{bad_response(r.status, "whoami: missing string \"user_id\"")};
  whoami_response w;
  w.user_id = std::move(*user_id);
  w.device_id = string_field(obj.value(), "device_id");
  w.is_guest = bool_field(obj.value(), "is_guest").value_or(false);
  return w;
}

http_request password_login_request(std::string_view user, std::string_view password,
                                    std::optional<std::string_view> device_id,
                                    std::string_view initial_device_display_name) {
  json body = {
      {"type", "m.login.password"},
      {"identifier", {{"type", "m.id.user"}, {"user", user}}},
      {"password", password},
      {"initial_device_display_name", initial_device_display_name},
  };
  if (device_id && !device_id->empty())
    body["device_id"] = *device_id;
  auto req = make(http_method::post, path({"/login"}), std::move(body));
  req.needs_access_token = false;
  req.body_is_secret = true;
  return req;
}

result<login_response> parse_login(const http_response& r) {
  auto obj = success_object(r, "login");
  if (!obj)
    return hm::unexpected{obj.error()};
  const auto& j = obj.value();
  auto user_id = string_field(j, "user_id");
  auto token = string_field(j, "access_token");
  auto device_id = string_field(j, "device_id");
  if (!user_id || !token || !device_id)
    return hm::unexpected{bad_response(r.status, "login: missing user_id, access_token or device_id")};
  login_response l;
  l.user_id = std::move(*user_id);
  l.access_token = std::move(*token);
  l.device_id = std::move(*device_id);
  if (const auto* wk = object_field(j, "well_known"))
    if (const auto* hs = object_field(*wk, "m.homeserver"))
      l.homeserver_base_url = string_field(*hs, "base_url");
  return l;
}

http_request displayname_request(std::string_view user_id) {
  return make(http_method::get, path({"/profile/", user_id, "/displayname"}));
}

result<std::optional<std::string>> parse_displayname(const http_response& r) {
  auto obj = success_object(r, "displayname");
  if (!obj)
    return hm::unexpected{obj.error()};
  return string_field(obj.value(), "displayname");
}

// ---- filter and sync ------------------------------------------------------------------

json bot_sync_filter(const sync_filter_options& o) {
  json room_event_filter = {{"limit", o.timeline_limit}};
  json state_filter = json::object();
  if (o.lazy_load_members) {
    room_event_filter["lazy_load_members"] = true;
    state_filter["lazy_load_members"] = true;
  }
  json room = {
      {"timeline", room_event_filter},
      {"state", state_filter},
  };
  if (!o.include_ephemeral)
    room["ephemeral"] = {{"not_types", {"*"}}};
  return {
      {"room", room},
      {"presence", {{"not_types", {"*"}}}},
  };
}

http_request create_filter_request(std::string_view user_id, const json& filter) {
  return make(http_method::post, path({"/user/", user_id, "/filter"}), filter);
}

result<std::string> parse_create_filter(const http_response& r) {
  return required_string(r, "filter", "filter_id");
}

http_request sync_request(const sync_options& o) {
  std::string target = path({"/sync"});
  char sep = '?';
  auto add = [&](std::string_view key, std::string_view value) {
    target += sep;
    target += key;
    target += '=';
    target += percent_encode(value);
    sep = '&';
  };
  if (o.filter)
    add("filter", *o.filter);
  if (o.since)
    add("since", *o.since);
  add("timeout", std::to_string(o.timeout.count()));
  if (o.full_state)
    add("full_state", "true");
  if (o.set_presence_offline)
    add("set_presence", "offline");
  auto req = make(http_method::get, std::move(target));
  // The server holds the poll up to `timeout`; give the transport that plus slack.
  req.timeout = o.timeout + std::chrono::seconds{30};
  return req;
}

// ---- rooms ----------------------------------------------------------------------------

http_request join_request(std::string_view room_id_or_alias, const std::vector<std::string>& via,
                          std::optional<std::string_view> reason) {
  std::string target = path({"/join/", room_id_or_alias});
  char sep = '?';
  for (const auto& server : via) {
    // `via` since v1.12; `server_name` for older servers. Both are harmless.
    target += sep;
    target += "via=" + percent_encode(server) + "&server_name=" + percent_encode(server);
    sep = '&';
  }
  json body = json::object();
  if (reason)
    body["reason"] = *reason;
  return make(http_method::post, std::move(target), std::move(body));
}

result<std::string> parse_join(const http_response& r) {
  return required_string(r, "join", "room_id");
}

http_request leave_request(std::string_view room_id, std::optional<std::string_view> reason) {
  json body = json::object();
  if (reason)
    body["reason"] = *reason;
  return make(http_method::post, path({"/rooms/", room_id, "/leave"}), std::move(body));
}

http_request send_request(std::string_view room_id, std::string_view event_type,
                          std::string_view txn_id, const json& content) {
  return make(http_method::put,
              path({"/rooms/", room_id, "/send/", event_type, "/", txn_id}), content);
}

http_request redact_request(std::string_view room_id, std::string_view event_id,
                            std::string_view txn_id, std::optional<std::string_view> reason) {
  json body = json::object();
  if (reason)
    body["reason"] = *reason;
  return make(http_method::put,
              path({"/rooms/", room_id, "/redact/", event_id, "/", txn_id}),
              std::move(body));
}

result<std::string> parse_event_id(const http_response& r) {
  return required_string(r, "send", "event_id");
}

http_request typing_request(std::string_view room_id, std::string_view user_id, bool typing,
                            std::chrono::milliseconds timeout) {
  json body = {{"typing", typing}};
  if (typing)
    body["timeout"] = timeout.count();
  return make(http_method::put, path({"/rooms/", room_id, "/typing/", user_id}),
              std::move(body));
}

http_request read_receipt_request(std::string_view room_id, std::string_view event_id,
                                  std::optional<std::string_view> thread_id) {
  json body = json::object();
  if (thread_id)
    body["thread_id"] = *thread_id;
  return make(http_method::post,
              path({"/rooms/", room_id, "/receipt/m.read/", event_id}), std::move(body));
}

http_request joined_members_request(std::string_view room_id) {
  return make(http_method::get, path({"/rooms/", room_id, "/joined_members"}));
}

result<std::vector<joined_member>> parse_joined_members(const http_response& r) {
  auto obj = success_object(r, "joined_members");
  if (!obj)
    return hm::unexpected{obj.error()};
  const auto* joined = object_field(obj.value(), "joined");
  if (joined == nullptr)
    return hm::unexpected{bad_response(r.status, "joined_members: missing object \"joined\"")};
  std::vector<joined_member> out;
  for (const auto& [user_id, info] : joined->items())
    out.push_back({user_id, string_field(info, "display_name")});
  return out;
}

http_request room_state_request(std::string_view room_id) {
  return make(http_method::get, path({"/rooms/", room_id, "/state"}));
}

http_request messages_before_request(std::string_view room_id, std::string_view from,
                                     std::string_view to, unsigned limit) {
  auto target = path({"/rooms/", room_id, "/messages"});
  target += "?dir=b&from=" + percent_encode(from);
  if (!to.empty())
    target += "&to=" + percent_encode(to);
  target += "&limit=" + std::to_string(limit);
  return make(http_method::get, std::move(target));
}

result<messages_page> parse_messages(const http_response& r) {
  if (!is_success(r.status))
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{64, 64u << 20, true, true}, &why);
  if (!j)
    return hm::unexpected{bad_response(r.status, "messages: " + why)};
  if (!j->is_object())
    return hm::unexpected{bad_response(r.status, "messages: body is not a JSON object")};
  messages_page page;
  page.end = string_field(*j, "end");
  if (auto it = j->find("chunk"); it != j->end() && it->is_array())
    for (auto& raw : *it)
      if (auto e = to_room_event(std::move(raw)))
        page.chunk.push_back(std::move(*e));
  return page;
}

result<std::vector<room_event>> parse_room_state(const http_response& r) {
  if (!is_success(r.status))
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{64, 64u << 20}, &why);
  if (!j)
    return hm::unexpected{bad_response(r.status, "room state: " + why)};
  if (!j->is_array())
    return hm::unexpected{bad_response(r.status, "room state: body is not a JSON array")};
  std::vector<room_event> out;
  out.reserve(j->size());
  for (auto& raw : *j)
    if (auto e = to_room_event(std::move(raw)); e && e->state_key)
      out.push_back(std::move(*e));
  return out;
}

http_request state_event_request(std::string_view room_id, std::string_view event_type,
                                 std::string_view state_key) {
  return make(http_method::get,
              path({"/rooms/", room_id, "/state/", event_type, "/", state_key}));
}

result<json> parse_state_event(const http_response& r) {
  return success_object(r, "state event");
}

// ---- account data ---------------------------------------------------------------------

http_request get_account_data_request(std::string_view user_id, std::string_view type) {
  return make(http_method::get, path({"/user/", user_id, "/account_data/", type}));
}

http_request put_account_data_request(std::string_view user_id, std::string_view type,
                                      const json& content) {
  return make(http_method::put, path({"/user/", user_id, "/account_data/", type}), content);
}

result<json> parse_account_data(const http_response& r) {
  return success_object(r, "account data");
}

json add_direct_room(const json& m_direct, std::string_view user_id, std::string_view room_id) {
  json out = m_direct.is_object() ? m_direct : json::object();
  auto& rooms = out[std::string{user_id}];
  if (!rooms.is_array())
    rooms = json::array();
  for (const auto& r : rooms)
    if (r.is_string() && r.get_ref<const std::string&>() == room_id)
      return out;
  rooms.push_back(room_id);
  return out;
}

// ---- to-device ------------------------------------------------------------------------

http_request send_to_device_request(std::string_view event_type, std::string_view txn_id,
                                    const json& messages) {
  return make(http_method::put, path({"/sendToDevice/", event_type, "/", txn_id}),
              json{{"messages", messages}});
}

result<empty_response> parse_empty(const http_response& r) {
  if (!is_success(r.status))
    return hm::unexpected{parse_matrix_error(r)};
  return empty_response{};
}

} // namespace hm::matrix
