#pragma once

// Before the outbound Megolm session of a room is used, every device of every joined
// member must have its room key (over Olm). This decides who still needs it, whether the
// session must be replaced first (someone who had it is gone), and builds the
// /sendToDevice body that delivers it.

#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

/// A device a session was shared with: (user id, device id, curve25519). Stored with the
/// outbound session.
using shared_device = std::tuple<std::string, std::string, std::string>;
using shared_set = std::set<shared_device>;

[[nodiscard]] shared_device shared_device_of(const device_identity& d);

/// A shared_set as the store keeps it (a JSON array of [user, device, curve25519]), and
/// back (unreadable entries are left out: those devices get the key again).
[[nodiscard]] std::string shared_set_json(const shared_set& set);
[[nodiscard]] shared_set shared_set_from_json(const std::string& text);

struct share_plan {
  /// Members whose device list is outdated or untracked: query them before sharing.
  std::vector<std::string> query_first;
  /// A device the session was shared with is no longer a joined member's device (a
  /// member left, a device was deleted or changed keys): create a new session, share it
  /// with `targets` computed again from an empty shared_set.
  bool rotate = false;
  /// Devices that still need the room key (our own other devices included; this
  /// device excluded).
  std::vector<device_identity> targets;
};

/// The plan for sharing a room's outbound session with `joined_members`.
[[nodiscard]] share_plan plan_room_key_share(const device_tracker& tracker,
                                             const std::vector<std::string>& joined_members,
                                             const own_device& self,
                                             const shared_set& already_shared);

/// The /sendToDevice body (event type m.room.encrypted) carrying `room_key` (the
/// outbound session's room_key_content()) to each of `targets`, through the Olm session
/// `session_for` returns for it (nullptr: no session, skipped and listed in `skipped`;
/// claim a key and create one first). Every session used changed: pickle them.
struct room_key_delivery {
  nlohmann::json messages = nlohmann::json::object(); // {user: {device: content}}
  std::vector<device_identity> delivered;             // add these to the shared_set
  std::vector<device_identity> skipped;
};
[[nodiscard]] result<room_key_delivery> room_key_messages(
    const account& acc, const own_device& self, const std::vector<device_identity>& targets,
    const nlohmann::json& room_key,
    const std::function<olm_session*(const device_identity&)>& session_for);

} // namespace hm::matrix::crypto
