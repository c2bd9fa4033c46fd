#include "matrix/synapse_admin.hpp"

#include "matrix/bounded_json.hpp"

namespace hm::matrix {

namespace {

using nlohmann::json;

std::string user_target(std::string_view user_id) {
  return std::string{synapse_admin_users} + percent_encode(user_id);
}

result<admin_user> user_of(const http_response& r, std::string_view what) {
  if (r.status < 200 || r.status >= 300)
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{64, 1u << 20}, &why);
  if (!j || !j->is_object())
    return hm::unexpected{bad_response(r.status, std::string{what} + ": " + (j ? "not a JSON object" : why))};
  auto name = string_field(*j, "name");
  if (!name)
    return hm::unexpected{bad_response(r.status, std::string{what} + ": missing string \"name\"")};
  admin_user u;
  u.name = std::move(*name);
  u.displayname = string_field(*j, "displayname");
  u.admin = bool_field(*j, "admin").value_or(false);
  u.deactivated = bool_field(*j, "deactivated").value_or(false);
  return u;
}

} // namespace

http_request admin_set_ratelimit_request(std::string_view user_id, admin_ratelimit limit) {
  http_request r;
  r.method = http_method::post;
  r.target = "/_synapse/admin/v1/users/" + percent_encode(user_id) + "/override_ratelimit";
  r.body = json{{"messages_per_second", limit.messages_per_second},
                {"burst_count", limit.burst_count}};
  return r;
}

result<admin_ratelimit> parse_admin_ratelimit(const http_response& r) {
  if (r.status < 200 || r.status >= 300)
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{8, 1u << 16}, &why);
  if (!j || !j->is_object())
    return hm::unexpected{bad_response(r.status, "rate limit override: " + (j ? "not a JSON object" : why))};
  auto per_second = int_field(*j, "messages_per_second");
  auto burst = int_field(*j, "burst_count");
  if (!per_second || !burst)
    return hm::unexpected{bad_response(r.status, "rate limit override: missing messages_per_second or "
                                  "burst_count")};
  return admin_ratelimit{*per_second, *burst};
}

http_request admin_get_user_request(std::string_view user_id) {
  http_request r;
  r.method = http_method::get;
  r.target = user_target(user_id);
  return r;
}

result<std::optional<admin_user>> parse_admin_get_user(const http_response& r) {
  if (r.status == 404) {
    auto e = parse_matrix_error(r);
    if (e.errcode == "M_NOT_FOUND")
      return std::optional<admin_user>{};
    return hm::unexpected{std::move(e)};
  }
  auto u = user_of(r, "admin user");
  if (!u)
    return hm::unexpected{u.error()};
  return std::optional<admin_user>{std::move(u.value())};
}

http_request admin_put_user_request(std::string_view user_id, std::string_view password,
                                    std::optional<std::string_view> displayname) {
  http_request r;
  r.method = http_method::put;
  r.target = user_target(user_id);
  json body = {{"password", password}, {"admin", false}};
  if (displayname)
    body["displayname"] = *displayname;
  r.body = std::move(body);
  r.body_is_secret = true;
  return r;
}

result<admin_put_result> parse_admin_put_user(const http_response& r) {
  auto u = user_of(r, "admin user");
  if (!u)
    return hm::unexpected{u.error()};
  return admin_put_result{std::move(u.value()), r.status == 201};
}

} // namespace hm::matrix
