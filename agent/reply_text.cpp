#include "agent/reply_text.hpp"

#include <algorithm>

namespace hm::agent {

namespace {

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
}

/// A label on one line and of a readable length (a command preview can be long).
std::string one_line(std::string_view s) {
  constexpr std::size_t max_bytes = 200;
  std::string out;
  for (char c : s) {
    if (out.size() >= max_bytes)
      break;
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  if (out.size() >= max_bytes) {
    // Never end inside a UTF-8 sequence.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80)
      out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80) != 0)
      out.pop_back();
    out += "…";
  }
  return out;
}

} // namespace

std::string trim_blank_lines(std::string_view text) {
  // Leading: drop whole lines that are blank.
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    if (!blank(line))
      break;
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
  }
  // Trailing: drop blank lines and the line break before them.
  while (!text.empty()) {
    auto bol = text.rfind('\n');
    auto line = bol == std::string_view::npos ? text : text.substr(bol + 1);
    if (!blank(line))
      break;
    text.remove_suffix(bol == std::string_view::npos ? text.size() : text.size() - bol);
  }
  return std::string{text};
}

void tool_activity::apply(const tool_progress& p) {
  auto same_call = [&](const call& c) {
    return p.call_id.empty() ? c.tool == p.tool && !c.done : c.id == p.call_id;
  };
  auto found = std::find_if(calls_.rbegin(), calls_.rend(), same_call);
  if (p.status == "completed") {
    if (found != calls_.rend())
      found->done = true;
    return;
  }
  if (found != calls_.rend() && !p.call_id.empty()) {
    // A repeated running event: take what it adds, keep what it lacks.
    if (!p.emoji.empty())
      found->emoji = p.emoji;
    if (!p.label.empty())
      found->label = one_line(p.label);
    return;
  }
  calls_.push_back({p.call_id, p.tool, p.emoji.empty() ? "🔧" : p.emoji,
                    one_line(p.label.empty() ? p.tool : p.label), false});
}

std::string tool_activity::lines() const {
  std::string out;
  std::size_t first = calls_.size() > shown_calls ? calls_.size() - shown_calls : 0;
  if (first > 0)
    out += "(" + std::to_string(first) + " earlier tool calls)\n";
  for (auto i = first; i < calls_.size(); ++i) {
    auto& c = calls_[i];
    out += c.emoji + " " + c.label + (c.done ? " ✓" : "…");
    if (i + 1 < calls_.size())
      out += '\n';
  }
  return out;
}

} // namespace hm::agent
