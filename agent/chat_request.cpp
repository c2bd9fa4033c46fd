#include "agent/chat_request.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace hm::agent {

namespace {

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(),
                       [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

} // namespace

std::string header_value(std::string_view v) {
  std::string r;
  r.reserve(v.size());
  for (const char c : v)
    if (c != '\r' && c != '\n' && c != '\0')
      r.push_back(c);
  return r;
}

std::string_view http_request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name))
      return h.value;
  return {};
}

std::string v1_url(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/')
    base_url.remove_suffix(1);
  std::string url{base_url};
  url += base_url.ends_with("/v1") ? "/" : "/v1/";
  url += path;
  return url;
}

nlohmann::json message_content(std::string_view text, std::span<const std::string> image_urls) {
  if (image_urls.empty())
    return std::string{text};
  auto parts = nlohmann::json::array();
  if (!text.empty())
    parts.push_back({{"type", "text"}, {"text", std::string{text}}});
  for (const auto& url : image_urls)
    parts.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
  return parts;
}

std::string chat_completions_url(std::string_view base_url) {
  return v1_url(base_url, "chat/completions");
}

std::string bearer(std::string_view api_key) {
  return "Bearer " + header_value(api_key);
}

http_request build_chat_request(const chat_request_input& in) {
  http_request req;
  req.method = "POST";
  req.url = chat_completions_url(in.base_url);
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"Accept", "text/event-stream"});
  if (!in.api_key.empty())
    req.headers.push_back({"Authorization", bearer(in.api_key)});
  if (!in.session_id.empty())
    req.headers.push_back({"X-Hermes-Session-Id", header_value(in.session_id)});

  auto messages = nlohmann::json::array();
  for (const auto& m : in.messages)
    messages.push_back({{"role", m.role}, {"content", message_content(m.content, m.image_urls)}});
  // Keys come out sorted (nlohmann::json objects are std::maps): messages, model, stream.
  const nlohmann::json body{
    {"model", in.model}, {"stream", true}, {"messages", std::move(messages)}};
  req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return req;
}

std::string context_line(const conversation_context& ctx) {
  std::string s = "You are the Hermes profile \"";
  s += ctx.profile;
  s += "\", talking on Matrix in room ";
  s += ctx.room;
  s += " with ";
  s += ctx.sender;
  s += '.';
  return s;
}

std::size_t count_chars(std::string_view s) noexcept {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

std::vector<chat_message> build_plain_messages(std::string_view soul,
                                               const conversation_context& ctx,
                                               std::span<const chat_message> history,
                                               std::string_view this_message,
                                               const history_limits& limits,
                                               std::span<const std::string> images) {
  // Walk back from the newest message while both bounds still hold.
  std::size_t keep = 0;
  std::size_t chars = 0;
  for (auto it = history.rbegin(); it != history.rend() && keep < limits.max_messages; ++it) {
    const auto n = count_chars(it->content);
    if (chars + n > limits.max_chars)
      break; // everything older goes too: a gap in the middle would mislead the model
    chars += n;
    ++keep;
  }

  std::string system{soul};
  while (!system.empty() && (system.back() == '\n' || system.back() == ' '))
    system.pop_back();
  if (!system.empty())
    system += "\n\n";
  system += context_line(ctx);

  std::vector<chat_message> out;
  out.reserve(keep + 2);
  out.push_back({"system", std::move(system)});
  for (auto it = history.end() - static_cast<std::ptrdiff_t>(keep); it != history.end(); ++it)
    out.push_back({it->role, it->content}); // text only: its images were the model's once
  out.push_back({"user", std::string{this_message}, {images.begin(), images.end()}});
  return out;
}

std::vector<chat_message> build_session_messages(const conversation_context& ctx,
                                                 std::string_view this_message,
                                                 std::span<const std::string> images) {
  return {{"system", context_line(ctx)},
          {"user", std::string{this_message}, {images.begin(), images.end()}}};
}

} // namespace hm::agent
