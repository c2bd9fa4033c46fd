#pragma once
// The room and the agent stream as the cell suites script them: a homeserver that takes
// each PUT into the room's timeline in order (or answers it as told: 429, refused) and
// deduplicates txn ids as the spec says; and the bytes of a streamed chat completion.

#include "messages/http.hpp"
#include "messages/interfaces.hpp"

#include <nlohmann/json.hpp>

#include <deque>
#include <string>
#include <vector>

namespace hm::test {

using json = nlohmann::json;

/// What the scripted homeserver took into the room, in order, and what it is told
/// to answer to the next sends (0: take it; else that HTTP status).
struct room_timeline {
  struct event {
    std::string txn;
    std::string type;
    json content;
    std::string event_id;
  };
  std::vector<event> events;
  std::deque<int> answers;
  int refused_puts = 0;
  /// The agent backend's streamed call and where its chunks go.
  uint64_t stream_id = 0;
  http_stream_sink_actor sink;

  /// The text a client shows for the first m.room.message that is not an edit.
  std::string shown_reply() const {
    std::string shown;
    std::string reply_id;
    for (auto& e : events) {
      if (e.type != "m.room.message")
        continue;
      auto rel = e.content.value("m.relates_to", json::object());
      if (rel.value("rel_type", "") == "m.replace") {
        if (rel.value("event_id", "") == reply_id)
          shown = e.content["m.new_content"].value("body", "");
      } else if (reply_id.empty()) {
        reply_id = e.event_id;
        shown = e.content.value("body", "");
      }
    }
    return shown;
  }

  /// Where in the timeline the last event whose text is `text` is (-1: nowhere).
  int index_of_text(const std::string& text) const {
    int found = -1;
    for (size_t i = 0; i < events.size(); ++i) {
      auto& c = events[i].content;
      auto body = c.contains("m.new_content") ? c["m.new_content"].value("body", "")
                                               : c.value("body", "");
      if (events[i].type == "m.room.message" && body == text)
        found = static_cast<int>(i);
    }
    return found;
  }

  /// Where the reaction `key` is (-1: nowhere).
  int index_of_reaction(const std::string& key) const {
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i].type == "m.reaction"
          && events[i].content["m.relates_to"].value("key", "") == key)
        return static_cast<int>(i);
    return -1;
  }

  size_t edits() const {
    size_t n = 0;
    for (auto& e : events)
      n += e.content.contains("m.new_content") ? 1 : 0;
    return n;
  }
};

inline http_result answer_send(room_timeline& room, const http_call& call) {
  http_result res;
  res.id = call.id;
  auto at = call.url.find("/send/");
  if (call.method != "PUT" || at == std::string::npos) {
    res.status = 200; // typing notices
    res.body = "{}";
    return res;
  }
  auto rest = call.url.substr(at + 6);
  auto slash = rest.find('/');
  auto type = rest.substr(0, slash);
  auto txn = rest.substr(slash + 1);
  // A homeserver deduplicates a txn id it has taken (spec: transaction identifiers).
  for (auto& e : room.events)
    if (e.txn == txn) {
      res.status = 200;
      res.body = json{{"event_id", e.event_id}}.dump();
      return res;
    }
  int answer = 0;
  if (!room.answers.empty()) {
    answer = room.answers.front();
    room.answers.pop_front();
  }
  if (answer == 429) {
    ++room.refused_puts;
    res.status = 429;
    res.body = R"({"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000})";
    return res;
  }
  if (answer != 0) {
    ++room.refused_puts;
    res.status = answer;
    res.body = R"({"errcode":"M_FORBIDDEN","error":"You may not send here"})";
    return res;
  }
  auto event_id = "$e" + std::to_string(room.events.size() + 1);
  room.events.push_back({txn, type, json::parse(call.body), event_id});
  res.status = 200;
  res.body = json{{"event_id", event_id}}.dump();
  return res;
}

inline std::string sse_text(const std::string& text) {
  return "data: " + json{{"choices", {{{"index", 0}, {"delta", {{"content", text}}}}}}}.dump()
         + "\n\n";
}

inline const std::string sse_end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                            "\"stop\"}]}\n\ndata: [DONE]\n\n";

} // namespace hm::test
