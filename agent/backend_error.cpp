#include "agent/backend_error.hpp"

#include <nlohmann/json.hpp>

namespace hm::agent {

namespace {

using nlohmann::json;

constexpr std::size_t max_detail_chars = 200;

std::string string_at(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// First line of `s`, control characters dropped, cut at a UTF-8 boundary.
std::string one_line(std::string_view s) {
  if (const auto nl = s.find_first_of("\r\n"); nl != std::string_view::npos)
    s = s.substr(0, nl);
  std::string r;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      continue;
    r.push_back(c);
  }
  const auto first = r.find_first_not_of(' ');
  const auto last = r.find_last_not_of(' ');
  r = first == std::string::npos ? std::string{} : r.substr(first, last - first + 1);
  if (r.size() > max_detail_chars) {
    auto cut = max_detail_chars;
    while (cut > 0 && (static_cast<unsigned char>(r[cut]) & 0xC0U) == 0x80U)
      --cut;
    r.resize(cut);
    r += "…";
  }
  return r;
}

void scrub(std::string& s, std::string_view secret) {
  if (secret.empty())
    return;
  for (auto pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos))
    s.replace(pos, secret.size(), "[redacted]");
}

/// The server's own explanation and error code, from whatever shape the body has.
void read_body(std::string_view body, std::string& detail, std::string& code) {
  const auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    const auto first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] != '<') // an HTML error page says nothing useful
      detail = std::string{body.substr(first)};
    return;
  }
  if (!j.is_object())
    return;
  if (const auto e = j.find("error"); e != j.end()) {
    if (e->is_string()) {
      detail = e->get<std::string>();
    } else if (e->is_object()) {
      detail = string_at(*e, "message");
      code = string_at(*e, "code");
      if (code.empty())
        code = string_at(*e, "type");
    }
  }
  if (detail.empty())
    detail = string_at(j, "detail");
  if (detail.empty())
    detail = string_at(j, "message");
}

} // namespace

backend_error describe_backend_error(int status, std::string_view body,
                                     std::string_view api_key, const backend_names& names) {
  backend_error err;
  err.status = status;
  std::string detail;
  read_body(body, detail, err.code);
  scrub(detail, api_key);
  scrub(err.code, api_key);
  detail = one_line(detail);
  err.code = one_line(err.code);
  err.retryable = status == 408 || status == 429 || (status >= 500 && status != 501);

  const auto with_detail = [&](std::string_view what) {
    std::string head{names.service};
    head += ' ';
    head += what;
    if (!detail.empty())
      head += ": " + detail;
    return head;
  };
  if ((status == 401 || err.code == "invalid_api_key") && api_key.empty())
    err.message = std::string{names.service} + " wants an API key (set "
                  + std::string{names.key_setting} + ")";
  else if (status == 401 || err.code == "invalid_api_key")
    err.message = std::string{names.service} + " refused the API key ("
                  + std::string{names.key_setting} + ")";
  else if (status == 403)
    err.message = with_detail("denied access (HTTP 403)");
  else if (status == 404)
    err.message = with_detail("has no " + std::string{names.endpoint} + " there (check "
                              + std::string{names.url_setting} + ")");
  else if (status == 429)
    err.message = with_detail("is busy (HTTP 429), try again shortly");
  else if (status == 503)
    err.message = with_detail("is unavailable (HTTP 503)");
  else if (status >= 500)
    err.message = with_detail("failed (HTTP " + std::to_string(status) + ")");
  else
    err.message = with_detail("answered HTTP " + std::to_string(status));
  return err;
}

} // namespace hm::agent
