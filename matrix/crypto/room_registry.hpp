#pragma once

// What the E2EE machine knows of the rooms it sends into, as sync and the room state
// tell it, sans I/O: which rooms are encrypted (encryption cannot be turned off, so
// that is remembered), each room's rotation policy, and the joined members last listed
// by the homeserver, forgotten when sync shows a change of membership or a gap (lazy-
// loaded members hide changes in a gap), so that each send does not ask again.

#include "matrix/crypto/megolm.hpp"
#include "matrix/sync.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm::matrix::crypto {

class room_registry {
public:
  /// Takes what a sync batch says (`initial`: a fresh start, whose gap may hide any
  /// change of membership).
  void apply(const sync_response& batch, bool initial);

  /// Whether `room_id` is encrypted; nullopt: not known yet (ask the room state).
  [[nodiscard]] std::optional<bool> encrypted(const std::string& room_id) const;
  /// The room's m.room.encryption state content: it is encrypted, with these periods.
  void note_encryption(const std::string& room_id, const nlohmann::json& content);
  /// The room has no m.room.encryption state.
  void note_unencrypted(const std::string& room_id);
  /// When the room's outbound session is replaced (the spec's defaults when unknown).
  [[nodiscard]] rotation_policy policy(const std::string& room_id) const;

  /// The joined members as last listed; nullptr: list them first.
  [[nodiscard]] const std::vector<std::string>* members(const std::string& room_id) const;
  void note_members(const std::string& room_id, std::vector<std::string> members);

private:
  std::map<std::string, bool> encrypted_;
  std::map<std::string, rotation_policy> rotation_;
  std::map<std::string, std::vector<std::string>> members_;
};

} // namespace hm::matrix::crypto
