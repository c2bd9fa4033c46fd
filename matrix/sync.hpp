#pragma once

// The /sync response as a typed model. Parsing is lenient per item and strict at the top:
// a malformed event is skipped and listed in `skipped` (with where and why), so one bad
// event from a hostile or buggy server cannot stop a profile; a body that is not a sync
// response at all (not JSON, no next_batch) is an error value. Never throws.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matrix/errors.hpp"
#include "matrix/events.hpp"

namespace hm::matrix {

/// Something the parser left out, and why: "rooms.join.!r:hs.timeline[3]" /
/// "missing or non-string sender". Never contains event content.
struct skipped_item {
  std::string where;
  std::string reason;
};

struct room_timeline {
  std::vector<room_event> events;
  bool limited = false;                  // a gap: older events exist before these
  std::optional<std::string> prev_batch; // token to paginate back into the gap
};

struct unread_notification_counts {
  std::optional<std::int64_t> highlight_count;
  std::optional<std::int64_t> notification_count;
};

struct room_summary {
  std::vector<std::string> heroes;                   // m.heroes
  std::optional<std::int64_t> joined_member_count;   // m.joined_member_count
  std::optional<std::int64_t> invited_member_count;  // m.invited_member_count
};

struct joined_room {
  room_timeline timeline;
  std::vector<room_event> state; // state before the timeline (delta, or full)
  std::vector<basic_event> ephemeral;
  std::vector<basic_event> account_data;
  std::optional<room_summary> summary;
  std::optional<unread_notification_counts> unread;
};

struct invited_room {
  std::vector<stripped_event> invite_state;
  /// Who invited `own_user_id`: the sender of the m.room.member event with state_key
  /// = own_user_id and membership "invite". Nullopt when the invite state lacks it.
  [[nodiscard]] std::optional<std::string> inviter(std::string_view own_user_id) const;
  /// The invite event's `is_direct` (the inviter means a DM).
  [[nodiscard]] bool is_direct(std::string_view own_user_id) const;
};

struct left_room {
  room_timeline timeline;
  std::vector<room_event> state;
  std::vector<basic_event> account_data;
};

struct device_list_changes {
  std::vector<std::string> changed; // users whose devices changed: query their keys again
  std::vector<std::string> left;    // users we no longer share an encrypted room with
};

struct sync_response {
  std::string next_batch;
  std::map<std::string, joined_room> join;
  std::map<std::string, invited_room> invite;
  std::map<std::string, left_room> leave;
  std::vector<basic_event> account_data;
  /// Parsed from the global m.direct account data event, when this sync carries one
  /// (absent: unchanged since the last sync, not "no DMs").
  std::optional<direct_rooms> direct;
  std::vector<basic_event> to_device;
  device_list_changes device_lists;
  std::map<std::string, std::int64_t> one_time_keys_count; // algorithm → count
  /// device_unused_fallback_key_types (or its MSC2732 unstable name).
  /// Absent: the server does not support fallback keys (do not upload one every sync).
  /// Present and lacking "signed_curve25519": our fallback key was used, upload a new one.
  std::optional<std::vector<std::string>> unused_fallback_key_types;
  std::vector<skipped_item> skipped;
};

/// Parses a 2xx /sync body. Errors: HM_BAD_RESPONSE when the body is not JSON (or too
/// deep/large), not an object, or has no string next_batch.
[[nodiscard]] result<sync_response> parse_sync(std::string_view body);

/// Same, from already parsed JSON (taken by value: events move their raw JSON out of it).
[[nodiscard]] result<sync_response> parse_sync(nlohmann::json body);

} // namespace hm::matrix
