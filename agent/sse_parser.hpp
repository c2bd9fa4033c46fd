#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hm::agent {

/// One dispatched event: `event:` name ("message" when none was given) and the
/// `data:` lines joined with '\n'.
struct sse_event {
  std::string type;
  std::string data;
  friend bool operator==(const sse_event&, const sse_event&) = default;
};

/// A line starting with ':' (servers send `: keepalive` to keep proxies from timing out).
struct sse_comment {
  std::string text; // after the ':', one leading space removed
  friend bool operator==(const sse_comment&, const sse_comment&) = default;
};

/// An event larger than the parser's limit; its content was discarded.
struct sse_oversized {
  std::size_t bytes = 0; // bytes discarded, counted up to the dispatching blank line
  friend bool operator==(const sse_oversized&, const sse_oversized&) = default;
};

using sse_record = std::variant<sse_event, sse_comment, sse_oversized>;

/// Incremental text/event-stream parser after the WHATWG HTML standard, section
/// "Parsing an event stream". Bytes may be fed in chunks split anywhere (inside a
/// UTF-8 sequence, between '\r' and '\n'); the records produced do not depend on
/// where the splits are. Lines end in "\n", "\r\n" or "\r". `id:` and `retry:` are
/// ignored (we never reconnect with Last-Event-ID: a lost stream is a failed turn).
///
/// Memory is bounded: the bytes of one event (its pending line plus the data already
/// collected) never exceed `max_event_bytes`; a larger event is dropped and reported
/// as `sse_oversized` when its blank line arrives.
class sse_parser {
public:
  static constexpr std::size_t default_max_event_bytes = std::size_t{1} << 20; // 1 MiB

  explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes)
    : max_event_bytes_(max_event_bytes) {}

  /// Consumes `chunk`, appending every record completed by it to `out`.
  void feed(std::string_view chunk, std::vector<sse_record>& out);

  /// True when bytes of an undispatched event are pending. At the end of the stream
  /// such an event is discarded (as the standard says); callers may report a
  /// truncated stream.
  [[nodiscard]] bool mid_event() const noexcept;

private:
  void consume(std::string_view bytes, std::vector<sse_record>& out);
  void append_to_line(std::string_view piece);
  void end_line(std::vector<sse_record>& out);
  void take_field(std::string_view name, std::string_view value);
  void dispatch(std::vector<sse_record>& out);
  void start_discarding();

  std::size_t max_event_bytes_;
  std::size_t bom_seen_ = 0;     // bytes of a leading UTF-8 BOM matched so far
  bool bom_done_ = false;        // the stream's start has been checked for a BOM
  bool skip_lf_ = false;         // the last line ended in '\r'; a following '\n' belongs to it
  bool discarding_ = false;      // the current event is over the limit
  std::size_t discarded_ = 0;    // bytes dropped from the current (oversized) event
  std::size_t line_bytes_ = 0;   // bytes of the current line, kept or not
  std::string line_;             // the incomplete current line
  std::string type_;             // `event:` of the current event
  std::string data_;             // `data:` lines of the current event, each followed by '\n'
};

} // namespace hm::agent
