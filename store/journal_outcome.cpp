#include "store/journal_outcome.hpp"

#include <array>

namespace hm {

namespace {

using kind = journal_outcome::kind;

constexpr std::array all_kinds{kind::answered, kind::ignored,  kind::failed,
                               kind::stopped,  kind::interrupted, kind::command,
                               kind::reaction, kind::joined,   kind::declined,
                               kind::verification};

} // namespace

const char* to_string(journal_outcome::kind k) {
  switch (k) {
    case kind::answered: return "answered";
    case kind::ignored: return "ignored";
    case kind::failed: return "failed";
    case kind::stopped: return "stopped";
    case kind::interrupted: return "interrupted";
    case kind::command: return "command";
    case kind::reaction: return "reaction";
    case kind::joined: return "joined";
    case kind::declined: return "declined";
    case kind::verification: return "verification";
  }
  return "unknown";
}

std::string to_string(const journal_outcome& o) {
  std::string text = to_string(o.what);
  if (!o.detail.empty())
    text += ":" + o.detail;
  return text;
}

std::optional<journal_outcome> parse_journal_outcome(std::string_view text) {
  auto colon = text.find(':');
  auto word = text.substr(0, colon);
  for (auto k : all_kinds)
    if (word == to_string(k))
      return journal_outcome{
        k, colon == std::string_view::npos ? std::string{} : std::string{text.substr(colon + 1)}};
  return std::nullopt;
}

} // namespace hm
