#include "logging/text_format.hpp"

#include <spdlog/details/log_msg.h>

#include <cstdio>

namespace hm {

std::string escape_control_characters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out.push_back(c);
    } else if (c == '\t') {
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", byte);
      out += buf;
    }
  }
  return out;
}

text_log_format::text_log_format()
  : pattern_("%Y-%m-%dT%H:%M:%S.%e %l [%n] %v") {
}

void text_log_format::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  auto text = std::string_view{msg.payload.data(), msg.payload.size()};
  auto escaped = escape_control_characters(text);
  if (escaped.size() == text.size()) { // nothing to escape (the usual case)
    pattern_.format(msg, dest);
    return;
  }
  auto copy = msg;
  copy.payload = spdlog::string_view_t{escaped.data(), escaped.size()};
  pattern_.format(copy, dest);
}

std::unique_ptr<spdlog::formatter> text_log_format::clone() const {
  return std::make_unique<text_log_format>();
}

} // namespace hm
