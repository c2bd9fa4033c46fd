#include "app/admin_requests.hpp"

#include "app/admin_token.hpp"

#include <regex>

namespace hm {

namespace {

httpd::response not_allowed(const httpd::request& req, const char* allowed) {
  auto r = httpd::json_error(405, "method_not_allowed",
                             req.path + " answers " + allowed + ", not " + req.method);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

} // namespace

std::variant<admin_route, httpd::response> route_of(const httpd::request& req) {
  using kind = admin_route::kind;
  bool get = req.method == "GET" || req.method == "HEAD";
  if (req.path == "/healthz" || req.path == "/readyz" || req.path == "/v1/status") {
    if (!get)
      return not_allowed(req, "GET");
    return admin_route{req.path == "/healthz"  ? kind::healthz
                       : req.path == "/readyz" ? kind::readyz
                                               : kind::status,
                       {}, {}};
  }
  static const std::regex notify{R"(/v1/profiles/([^/]+)/notify)"};
  static const std::regex verifications{R"(/v1/profiles/([^/]+)/verifications)"};
  static const std::regex verification{R"(/v1/profiles/([^/]+)/verifications/([^/]+))"};
  std::smatch m;
  if (std::regex_match(req.path, m, notify)) {
    if (req.method != "POST")
      return not_allowed(req, "POST");
    return admin_route{kind::notify, m[1].str(), {}};
  }
  if (std::regex_match(req.path, m, verifications)) {
    if (!get)
      return not_allowed(req, "GET");
    return admin_route{kind::verifications, m[1].str(), {}};
  }
  if (std::regex_match(req.path, m, verification)) {
    if (req.method != "POST")
      return not_allowed(req, "POST");
    return admin_route{kind::verification_action, m[1].str(), m[2].str()};
  }
  return httpd::json_error(404, "not_found", "no such endpoint: " + req.method + " " + req.path);
}

bool needs_token(const admin_route& route) {
  return route.what != admin_route::kind::healthz && route.what != admin_route::kind::readyz;
}

std::optional<httpd::response> refused(const httpd::request& req, std::string_view token) {
  auto presented = bearer_token(req.header("Authorization"));
  if (presented.empty()) {
    auto r = httpd::json_error(401, "unauthorized",
                               "missing bearer token: send Authorization: Bearer <the admin "
                               "token file's content>");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (!same_token(presented, token)) {
    auto r = httpd::json_error(401, "unauthorized", "wrong admin token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return r;
  }
  return std::nullopt;
}

std::string_view to_string(verification_choice c) {
  switch (c) {
    case verification_choice::confirm: return "confirm";
    case verification_choice::reject: return "reject";
    case verification_choice::cancel: return "cancel";
    case verification_choice::timeout: return "timeout";
  }
  return "cancel";
}

hm::expected<verification_choice> read_verification_action(const std::string& text) {
  auto wrong = fail(error_code::invalid_input,
                    "the request body must be a JSON object like {\"action\": \"confirm\"} "
                    "(confirm, reject or cancel)");
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object() || json.size() != 1)
    return wrong;
  auto action = json.find("action");
  if (action == json.end() || !action->is_string())
    return wrong;
  auto word = action->get<std::string>();
  for (auto c : {verification_choice::confirm, verification_choice::reject,
                 verification_choice::cancel, verification_choice::timeout})
    if (word == to_string(c))
      return c;
  return wrong;
}

httpd::response reply_json(int status, const nlohmann::json& body) {
  return {status, "application/json",
          body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", {}};
}

/// Reads {"body": "...", "format": "markdown", "idempotency_key": "..."} (the last two
/// optional); an invalid_input error otherwise.
hm::expected<notification> read_notification(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return fail(error_code::invalid_input,
                "the request body must be a JSON object like {\"body\": \"text\"}");
  for (auto& [key, _] : json.items())
    if (key != "body" && key != "format" && key != "idempotency_key")
      return fail(error_code::invalid_input,
                  "unknown field '" + key + "': only body, format and idempotency_key are read");
  auto body = json.find("body");
  if (body == json.end() || !body->is_string() || body->get<std::string>().empty())
    return fail(error_code::invalid_input, "body must be a non-empty string");
  if (body->get<std::string>().size() > max_notify_body)
    return fail(error_code::invalid_input, "body is longer than " + std::to_string(max_notify_body)
                                               + " bytes; send it in parts");
  notification n;
  n.body = body->get<std::string>();
  if (auto f = json.find("format"); f != json.end()) {
    if (!f->is_string() || (*f != "markdown" && *f != "plain"))
      return fail(error_code::invalid_input,
                  "format must be \"markdown\" or \"plain\" (the default)");
    if (*f == "markdown")
      n.format = "markdown";
  }
  if (auto k = json.find("idempotency_key"); k != json.end()) {
    if (!k->is_string() || k->get<std::string>().empty() || k->get<std::string>().size() > 200)
      return fail(error_code::invalid_input,
                  "idempotency_key must be a string of 1 to 200 bytes");
    n.key = k->get<std::string>();
  }
  return n;
}


} // namespace hm
