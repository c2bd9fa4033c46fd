#include "agent/chat_stream.hpp"

#include <nlohmann/json.hpp>

namespace hm::agent {

namespace {

using nlohmann::json;

constexpr std::string_view tool_progress_event = "hermes.tool.progress";

/// A few bytes of the input for a log line: printable ASCII only, cut short.
std::string excerpt(std::string_view s) {
  constexpr std::size_t max_len = 32;
  std::string r;
  for (const char c : s.substr(0, max_len))
    r.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > max_len)
    r += "...";
  return r;
}

std::string string_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool bool_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::int64_t count_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer())
    return 0;
  return it->get<std::int64_t>();
}

/// `error` as a string, or `error.message`; nullopt when absent or null.
std::optional<std::string> error_text(const json& obj) {
  const auto it = obj.find("error");
  if (it == obj.end() || it->is_null())
    return std::nullopt;
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_object()) {
    auto msg = string_field(*it, "message");
    return msg.empty() ? std::string{"unspecified error"} : msg;
  }
  return std::string{"unspecified error"};
}

finish_reason parse_reason(std::string_view s) {
  if (s == "stop")
    return finish_reason::stop;
  if (s == "length")
    return finish_reason::length;
  if (s == "error")
    return finish_reason::error;
  return finish_reason::other;
}

finish make_finish(const json& chunk, std::string raw_reason) {
  finish f;
  f.reason = parse_reason(raw_reason);
  f.raw_reason = std::move(raw_reason);
  if (const auto u = chunk.find("usage"); u != chunk.end() && u->is_object())
    f.usage = token_usage{count_field(*u, "prompt_tokens"),
                          count_field(*u, "completion_tokens"),
                          count_field(*u, "total_tokens")};
  f.error = error_text(chunk);
  if (const auto h = chunk.find("hermes"); h != chunk.end() && h->is_object())
    f.hermes = hermes_outcome{bool_field(*h, "completed"), bool_field(*h, "partial"),
                              bool_field(*h, "failed"), string_field(*h, "error"),
                              string_field(*h, "error_code")};
  return f;
}

void decode_tool_progress(const std::string& data, std::vector<stream_item>& out) {
  const auto j = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.emplace_back(malformed{"tool progress is not a JSON object: " + excerpt(data)});
    return;
  }
  auto tool = string_field(j, "tool");
  if (tool.empty())
    tool = string_field(j, "name");
  out.emplace_back(tool_progress{std::move(tool), string_field(j, "emoji"),
                                 string_field(j, "label"), string_field(j, "status"),
                                 string_field(j, "toolCallId")});
}

void decode_chunk(const std::string& data, std::vector<stream_item>& out) {
  // Some servers pad the sentinel; it is never valid JSON, so trimming is safe.
  const auto first = data.find_first_not_of(" \t");
  const auto last = data.find_last_not_of(" \t");
  if (first != std::string::npos
      && std::string_view{data}.substr(first, last - first + 1) == "[DONE]") {
    out.emplace_back(done{});
    return;
  }
  const auto chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (chunk.is_discarded()) {
    out.emplace_back(malformed{"data is not JSON: " + excerpt(data)});
    return;
  }
  if (!chunk.is_object()) {
    out.emplace_back(malformed{"chunk is not a JSON object: " + excerpt(data)});
    return;
  }
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || choices->is_null()
      || (choices->is_array() && choices->empty())) {
    // No choice: an error report, or a usage-only chunk (stream_options.include_usage).
    if (error_text(chunk)) {
      out.emplace_back(make_finish(chunk, "error"));
    } else if (choices == chunk.end() && !chunk.contains("usage")) {
      out.emplace_back(malformed{"chunk without choices: " + excerpt(data)});
    }
    return;
  }
  if (!choices->is_array() || !choices->front().is_object()) {
    out.emplace_back(malformed{"choices is not an array of objects"});
    return;
  }
  const auto& choice = choices->front();
  if (const auto delta = choice.find("delta"); delta != choice.end() && !delta->is_null()) {
    if (!delta->is_object()) {
      out.emplace_back(malformed{"delta is not an object"});
      return;
    }
    if (const auto content = delta->find("content");
        content != delta->end() && !content->is_null()) {
      if (!content->is_string()) {
        out.emplace_back(malformed{"delta.content is not a string"});
        return;
      }
      if (!content->get_ref<const std::string&>().empty())
        out.emplace_back(text_delta{content->get<std::string>()});
    }
  }
  if (const auto reason = choice.find("finish_reason");
      reason != choice.end() && !reason->is_null()) {
    if (!reason->is_string()) {
      out.emplace_back(malformed{"finish_reason is not a string"});
      return;
    }
    out.emplace_back(make_finish(chunk, reason->get<std::string>()));
  }
}

void decode_record(const sse_record& record, std::vector<stream_item>& out) {
  if (std::holds_alternative<sse_comment>(record)) {
    out.emplace_back(keepalive{});
  } else if (const auto* big = std::get_if<sse_oversized>(&record)) {
    out.emplace_back(
      malformed{"event of " + std::to_string(big->bytes) + "+ bytes skipped (over the limit)"});
  } else {
    const auto& ev = std::get<sse_event>(record);
    if (ev.type == "message")
      decode_chunk(ev.data, out);
    else if (ev.type == tool_progress_event)
      decode_tool_progress(ev.data, out);
    // Other named events are extensions we do not know; skipping them is safe.
  }
}

} // namespace

const char* to_string(finish_reason r) {
  switch (r) {
    case finish_reason::stop:
      return "stop";
    case finish_reason::length:
      return "length";
    case finish_reason::error:
      return "error";
    case finish_reason::other:
      break;
  }
  return "other";
}

void chat_stream_decoder::feed(std::string_view chunk, std::vector<stream_item>& out) {
  records_.clear();
  sse_.feed(chunk, records_);
  for (const auto& r : records_)
    decode_record(r, out);
}

std::vector<stream_item> chat_stream_decoder::feed(std::string_view chunk) {
  std::vector<stream_item> out;
  feed(chunk, out);
  return out;
}

} // namespace hm::agent
