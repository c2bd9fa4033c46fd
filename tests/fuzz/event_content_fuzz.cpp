// libFuzzer target: event content as anyone in a room can write it. Exercises the
// message/relation/mention/member/encryption parsers, reply-fallback stripping, and the
// content builders fed with what was parsed (a reply to hostile content must build).
// Sources: tests/fuzz/event_content_fuzz.cpp matrix/bounded_json.cpp matrix/events.cpp
//          matrix/content.cpp

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "matrix/bounded_json.hpp"
#include "matrix/content.hpp"
#include "matrix/events.hpp"

using namespace hm::matrix;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // Raw bytes as bodies: the strippers must cope with anything, not only valid UTF-8.
  (void)strip_reply_fallback(text);
  (void)strip_reply_fallback_html(text);
  auto j = parse_bounded_json(text);
  if (!j)
    return 0;
  if (auto ev = to_room_event(*j)) {
    (void)ev->is_redacted();
    (void)ev->redacts();
  }
  (void)to_stripped_event(*j);
  (void)to_basic_event(*j, true);
  const auto* content = object_field(*j, "content");
  const auto& c = content != nullptr ? *content : *j;
  (void)parse_member_content(c);
  (void)parse_encryption_content(c);
  (void)parse_direct_content(c);
  auto m = parse_message_content(c);
  if (!m)
    return 0;
  auto body = strip_reply_fallback(m->body);
  if (m->formatted_body)
    (void)strip_reply_fallback_html(*m->formatted_body);
  outgoing_message out;
  out.body = body;
  out.formatted_body = m->formatted_body;
  if (m->mentions)
    out.mention_user_ids = m->mentions->user_ids;
  std::string_view target = "$fuzz";
  if (m->relates_to && m->relates_to->in_reply_to)
    target = *m->relates_to->in_reply_to;
  auto built = m->relates_to && m->relates_to->thread_root()
                   ? thread_content(out, "@bot:example.org", *m->relates_to->thread_root(),
                                    target)
                   : reply_content(out, "@bot:example.org", target);
  auto edit = edit_content(out, "@bot:example.org", target, out.mention_user_ids);
  // The builders' output must serialize (invalid UTF-8 is replaced, not thrown).
  (void)built.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)edit.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (m->relates_to && m->relates_to->key)
    (void)reaction_content(target, *m->relates_to->key);
  return 0;
}
