#include "agent/sse_parser.hpp"

namespace hm::agent {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

std::string_view drop_one_leading_space(std::string_view s) {
  if (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  return s;
}

} // namespace

void sse_parser::feed(std::string_view chunk, std::vector<sse_record>& out) {
  // The standard strips one leading BOM; it may arrive split over chunks.
  while (!bom_done_ && !chunk.empty()) {
    if (chunk.front() == utf8_bom[bom_seen_]) {
      chunk.remove_prefix(1);
      if (++bom_seen_ == utf8_bom.size())
        bom_done_ = true;
    } else {
      bom_done_ = true;
      // The bytes that looked like a BOM start were ordinary content after all.
      consume(utf8_bom.substr(0, bom_seen_), out);
    }
  }
  consume(chunk, out);
}

void sse_parser::consume(std::string_view bytes, std::vector<sse_record>& out) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    const auto end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      append_to_line(bytes.substr(i));
      return;
    }
    append_to_line(bytes.substr(i, end - i));
    skip_lf_ = bytes[end] == '\r';
    end_line(out);
    i = end + 1;
  }
}

void sse_parser::append_to_line(std::string_view piece) {
  line_bytes_ += piece.size();
  if (!discarding_ && line_.size() + data_.size() + piece.size() > max_event_bytes_)
    start_discarding();
  if (discarding_) {
    discarded_ += piece.size();
    return;
  }
  line_.append(piece);
}

void sse_parser::end_line(std::vector<sse_record>& out) {
  const bool blank = line_bytes_ == 0;
  line_bytes_ = 0;
  if (discarding_) {
    if (blank) {
      out.emplace_back(sse_oversized{discarded_});
      discarding_ = false;
      discarded_ = 0;
    }
    return;
  }
  if (blank) {
    dispatch(out);
    return;
  }
  const std::string_view line = line_;
  if (line.front() == ':') {
    out.emplace_back(sse_comment{std::string{drop_one_leading_space(line.substr(1))}});
  } else if (const auto colon = line.find(':'); colon == std::string_view::npos) {
    take_field(line, {});
  } else {
    take_field(line.substr(0, colon), drop_one_leading_space(line.substr(colon + 1)));
  }
  line_.clear();
}

void sse_parser::take_field(std::string_view name, std::string_view value) {
  if (name == "event") {
    type_.assign(value);
  } else if (name == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) {
      start_discarding();
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  }
  // `id`, `retry` and unknown fields are ignored.
}

void sse_parser::dispatch(std::vector<sse_record>& out) {
  if (!data_.empty()) {
    data_.pop_back(); // the '\n' after the last data line
    out.emplace_back(sse_event{type_.empty() ? std::string{"message"} : std::move(type_),
                               std::move(data_)});
  }
  type_.clear();
  data_.clear();
}

void sse_parser::start_discarding() {
  discarding_ = true;
  discarded_ += line_.size() + data_.size();
  line_.clear();
  line_.shrink_to_fit(); // give the memory back: this is what the limit is for
  data_.clear();
  data_.shrink_to_fit();
  type_.clear();
}

bool sse_parser::mid_event() const noexcept {
  return line_bytes_ > 0 || !data_.empty() || !type_.empty() || discarding_;
}

} // namespace hm::agent
