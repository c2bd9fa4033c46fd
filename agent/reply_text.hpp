#pragma once

// What the room is shown of a turn while and after the agent works: the reply text
// without the blank lines the server puts around it, and one line per tool call.

#include "agent/chat_stream.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hm::agent {

/// `text` without the blank (empty or whitespace-only) lines at its start and its end.
/// The Hermes server starts the text that follows a tool call with "\n\n".
[[nodiscard]] std::string trim_blank_lines(std::string_view text);

/// The tool calls of a turn, one line each, as the room sees them while the agent has
/// said nothing yet. A call is known by its `toolCallId`; its emoji and label come from
/// its `running` event and stay when `completed` (which carries neither) marks it done.
/// Servers that send no id: a `completed` marks the newest running call of that tool.
class tool_activity {
public:
  /// At most this many calls are shown (the newest), after a line counting the rest.
  static constexpr std::size_t shown_calls = 8;

  void apply(const tool_progress& progress);

  /// "💻 echo hi ✓\n🔍 Searching the web…"; "" before any tool call.
  [[nodiscard]] std::string lines() const;

  [[nodiscard]] bool empty() const noexcept { return calls_.empty(); }

private:
  struct call {
    std::string id;
    std::string tool;
    std::string emoji;
    std::string label;
    bool done = false;
  };
  std::vector<call> calls_;
};

} // namespace hm::agent
