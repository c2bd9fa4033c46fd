#pragma once

// Items as text, so that a failed CAF_CHECK_EQUAL prints something readable.

#include "agent/chat_request.hpp"
#include "agent/chat_stream.hpp"
#include "agent/sse_parser.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace hm::agent::test {

/// A request's header names in order: "Content-Type;Accept;".
inline std::string header_names(const http_request& r) {
  std::string s;
  for (const auto& h : r.headers)
    s += h.name + ";";
  return s;
}

inline std::string render(const sse_record& r) {
  if (const auto* ev = std::get_if<sse_event>(&r))
    return "event " + ev->type + " [" + ev->data + "]";
  if (const auto* c = std::get_if<sse_comment>(&r))
    return "comment [" + c->text + "]";
  return "oversized " + std::to_string(std::get<sse_oversized>(r).bytes);
}

inline std::string render(const stream_item& item) {
  if (const auto* t = std::get_if<text_delta>(&item))
    return "text [" + t->text + "]";
  if (const auto* p = std::get_if<tool_progress>(&item))
    return "tool " + p->tool + " " + p->emoji + " [" + p->label + "] " + p->status
           + (p->call_id.empty() ? "" : " #" + p->call_id);
  if (std::holds_alternative<keepalive>(item))
    return "keepalive";
  if (const auto* f = std::get_if<finish>(&item)) {
    std::string s = "finish ";
    s += to_string(f->reason);
    if (f->reason == finish_reason::other)
      s += "(" + f->raw_reason + ")";
    if (f->usage)
      s += " usage=" + std::to_string(f->usage->prompt_tokens) + "/"
           + std::to_string(f->usage->completion_tokens) + "/"
           + std::to_string(f->usage->total_tokens);
    if (f->error)
      s += " error=[" + *f->error + "]";
    if (f->hermes) {
      s += " hermes=";
      s += f->hermes->completed ? "C" : "-";
      s += f->hermes->partial ? "P" : "-";
      s += f->hermes->failed ? "F" : "-";
      if (!f->hermes->error.empty() || !f->hermes->error_code.empty())
        s += "[" + f->hermes->error + "|" + f->hermes->error_code + "]";
    }
    return s;
  }
  if (std::holds_alternative<done>(item))
    return "done";
  return "malformed: " + std::get<malformed>(item).what;
}

template <class T>
std::string render(const std::vector<T>& xs) {
  std::string s;
  for (const auto& x : xs) {
    s += render(x);
    s += '\n';
  }
  return s;
}

/// Feeds `bytes` in pieces cut at `cuts` (ascending offsets) to a fresh parser.
inline std::vector<sse_record> parse_sse(std::string_view bytes,
                                         const std::vector<std::size_t>& cuts = {},
                                         std::size_t limit = sse_parser::default_max_event_bytes) {
  sse_parser p{limit};
  std::vector<sse_record> out;
  std::size_t at = 0;
  for (const auto cut : cuts) {
    p.feed(bytes.substr(at, cut - at), out);
    at = cut;
  }
  p.feed(bytes.substr(at), out);
  return out;
}

inline std::vector<stream_item> decode(std::string_view bytes,
                                       const std::vector<std::size_t>& cuts = {}) {
  chat_stream_decoder d;
  std::vector<stream_item> out;
  std::size_t at = 0;
  for (const auto cut : cuts) {
    d.feed(bytes.substr(at, cut - at), out);
    at = cut;
  }
  d.feed(bytes.substr(at), out);
  return out;
}

} // namespace hm::agent::test
