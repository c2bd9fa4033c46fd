#include "agent/runs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace hm::agent {

namespace {

using json = nlohmann::json;

std::string dumped(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A run id as one path segment: what is not [A-Za-z0-9_-] is percent-encoded (the
/// server's ids are "run_<hex>"; another server's may not be).
std::string segment(std::string_view id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
        || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

http_request run_call(const char* method, std::string_view base_url, std::string_view api_key,
                      std::string_view run_id, std::string_view what) {
  http_request req;
  req.method = method;
  req.url = v1_url(base_url, "runs/" + segment(run_id) + (what.empty() ? "" : "/")
                               + std::string{what});
  req.headers.push_back({"Accept", what == "events" ? "text/event-stream" : "application/json"});
  if (!api_key.empty())
    req.headers.push_back({"Authorization", bearer(api_key)});
  return req;
}

/// Visible ASCII only (the server's rule for Idempotency-Key), at most 255 bytes.
std::string idempotency_value(std::string_view key) {
  std::string out;
  for (char c : key)
    if (c >= 33 && c <= 126 && out.size() < 255)
      out.push_back(c);
  return out;
}

std::string text_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::optional<run_item> item_of(const json& j) {
  auto name = text_of(j, "event");
  if (name == "message.delta")
    return text_delta{text_of(j, "delta")};
  if (name == "tool.started") {
    auto tool = text_of(j, "tool");
    auto preview = text_of(j, "preview");
    return tool_progress{tool, "", preview.empty() ? tool : tool + ": " + preview, "running", ""};
  }
  if (name == "tool.completed")
    return tool_progress{text_of(j, "tool"), "", "", "completed", ""};
  if (name == "approval.request") {
    approval_request a;
    a.command = text_of(j, "command");
    a.description = text_of(j, "description");
    auto permanent = j.find("allow_permanent");
    bool allow_permanent = permanent == j.end() || !permanent->is_boolean()
                           || permanent->get<bool>();
    auto choices = j.find("choices");
    if (choices != j.end() && choices->is_array()) {
      for (auto& c : *choices)
        if (c.is_string())
          if (auto choice = parse_approval_choice(c.get<std::string>());
              choice && (allow_permanent || *choice != approval_choice::always)
              && std::find(a.choices.begin(), a.choices.end(), *choice) == a.choices.end())
            a.choices.push_back(*choice);
    }
    if (a.choices.empty()) // an older server that lists none takes once and deny
      a.choices = {approval_choice::once, approval_choice::deny};
    return a;
  }
  if (name == "approval.responded")
    return approval_responded{text_of(j, "choice")};
  if (name == "run.completed")
    return run_end{run_end_kind::completed, text_of(j, "output"), ""};
  if (name == "run.failed") {
    auto error = text_of(j, "error");
    return run_end{run_end_kind::failed, "", error.empty() ? "agent run failed" : error};
  }
  if (name == "run.cancelled")
    return run_end{run_end_kind::cancelled, "", ""};
  return std::nullopt; // reasoning, subagents, what newer servers add
}

} // namespace

const char* to_string(approval_choice c) {
  switch (c) {
    case approval_choice::once: return "once";
    case approval_choice::session: return "session";
    case approval_choice::always: return "always";
    case approval_choice::deny: return "deny";
  }
  return "deny";
}

std::optional<approval_choice> parse_approval_choice(std::string_view text) {
  std::string lower;
  for (char c : text)
    lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  for (auto c : {approval_choice::once, approval_choice::session, approval_choice::always,
                 approval_choice::deny})
    if (lower == to_string(c))
      return c;
  return std::nullopt;
}

http_request build_run_request(const run_request_input& in) {
  http_request req;
  req.method = "POST";
  req.url = v1_url(in.base_url, "runs");
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"Accept", "application/json"});
  if (!in.api_key.empty())
    req.headers.push_back({"Authorization", bearer(in.api_key)});
  if (auto key = idempotency_value(in.idempotency_key); !key.empty())
    req.headers.push_back({"Idempotency-Key", key});
  json body{{"input", in.images.empty()
                         ? json(std::string{in.input})
                         : json::array({{{"role", "user"},
                                         {"content", message_content(in.input, in.images)}}})}};
  if (!in.session_id.empty())
    body["session_id"] = std::string{in.session_id};
  if (!in.instructions.empty())
    body["instructions"] = std::string{in.instructions};
  if (!in.history.empty()) {
    auto history = json::array();
    for (auto& m : in.history)
      history.push_back({{"role", m.role}, {"content", m.content}}); // text only (build_plain_messages)
    body["conversation_history"] = std::move(history);
  }
  req.body = dumped(body);
  return req;
}

std::optional<run_started> parse_run_started(int status, std::string_view body) {
  if (status != 202 && status != 200)
    return std::nullopt;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  auto id = text_of(j, "run_id");
  if (id.empty() || id.size() > 256)
    return std::nullopt;
  auto replayed = j.find("replayed");
  return run_started{id, replayed != j.end() && replayed->is_boolean() && replayed->get<bool>()};
}

http_request build_run_events_request(std::string_view base_url, std::string_view api_key,
                                      std::string_view run_id) {
  return run_call("GET", base_url, api_key, run_id, "events");
}

http_request build_run_status_request(std::string_view base_url, std::string_view api_key,
                                      std::string_view run_id) {
  return run_call("GET", base_url, api_key, run_id, "");
}

http_request build_run_approval_request(std::string_view base_url, std::string_view api_key,
                                        std::string_view run_id, approval_choice choice) {
  auto req = run_call("POST", base_url, api_key, run_id, "approval");
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = dumped(json{{"choice", to_string(choice)}});
  return req;
}

http_request build_run_stop_request(std::string_view base_url, std::string_view api_key,
                                    std::string_view run_id) {
  auto req = run_call("POST", base_url, api_key, run_id, "stop");
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = "{}";
  return req;
}

std::vector<run_item> run_stream_decoder::feed(std::string_view chunk) {
  std::vector<run_item> out;
  records_.clear();
  sse_.feed(chunk, records_);
  for (auto& rec : records_) {
    if (std::holds_alternative<sse_comment>(rec)) {
      out.emplace_back(keepalive{});
    } else if (auto* big = std::get_if<sse_oversized>(&rec)) {
      out.emplace_back(malformed{"an event of " + std::to_string(big->bytes)
                                 + " bytes, over the limit"});
    } else if (auto* ev = std::get_if<sse_event>(&rec)) {
      auto j = json::parse(ev->data, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        out.emplace_back(malformed{"an event that is not a JSON object"});
        continue;
      }
      if (auto item = item_of(j))
        out.push_back(std::move(*item));
    }
  }
  return out;
}

bool run_status::terminal() const {
  static constexpr std::array<std::string_view, 4> ends{"completed", "failed", "cancelled",
                                                         "interrupted"};
  return std::find(ends.begin(), ends.end(), status) != ends.end();
}

std::optional<std::variant<run_status, run_not_found>> parse_run_status(int status,
                                                                        std::string_view body) {
  if (status == 404)
    return std::variant<run_status, run_not_found>{run_not_found{}};
  if (status != 200)
    return std::nullopt;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || text_of(j, "status").empty())
    return std::nullopt;
  return std::variant<run_status, run_not_found>{
    run_status{text_of(j, "status"), text_of(j, "output"), text_of(j, "error")}};
}

} // namespace hm::agent
