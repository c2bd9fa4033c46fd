// libFuzzer target: /sync bodies. Whatever the bytes, parse_sync returns (a value or an
// error), never throws, never crashes; and everything it hands out is safe to walk.
// Sources: tests/fuzz/sync_fuzz.cpp matrix/bounded_json.cpp matrix/errors.cpp
//          matrix/events.cpp matrix/sync.cpp

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "matrix/sync.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  auto r = hm::matrix::parse_sync(body);
  if (!r)
    return 0;
  // Touch what the profile actor would: typed accessors over kept raw JSON.
  for (const auto& [room_id, room] : r->join) {
    for (const auto& ev : room.timeline.events) {
      (void)ev.content();
      (void)ev.is_redacted();
      (void)ev.redacts();
      (void)ev.transaction_id();
      (void)ev.raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    (void)room_id;
  }
  for (const auto& [room_id, room] : r->invite) {
    (void)room.inviter("@bot:example.org");
    (void)room.is_direct("@bot:example.org");
    (void)room_id;
  }
  return 0;
}
