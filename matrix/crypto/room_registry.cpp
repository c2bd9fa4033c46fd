#include "matrix/crypto/room_registry.hpp"

#include "matrix/events.hpp"

namespace hm::matrix::crypto {

void room_registry::apply(const sync_response& batch, bool initial) {
  if (initial)
    members_.clear();
  for (auto& [room_id, left] : batch.leave)
    members_.erase(room_id);
  for (auto& [room_id, joined] : batch.join) {
    bool members_changed = joined.timeline.limited;
    auto take = [&](const room_event& ev) {
      if (ev.type == "m.room.encryption" && ev.state_key)
        note_encryption(room_id, ev.content());
      members_changed |= ev.type == "m.room.member";
    };
    for (auto& ev : joined.state)
      take(ev);
    for (auto& ev : joined.timeline.events)
      take(ev);
    if (members_changed)
      members_.erase(room_id);
  }
}

std::optional<bool> room_registry::encrypted(const std::string& room_id) const {
  if (auto i = encrypted_.find(room_id); i != encrypted_.end())
    return i->second;
  return std::nullopt;
}

void room_registry::note_encryption(const std::string& room_id, const nlohmann::json& content) {
  encrypted_[room_id] = true;
  if (auto c = parse_encryption_content(content))
    rotation_[room_id] = rotation_policy::from(*c);
}

void room_registry::note_unencrypted(const std::string& room_id) {
  // Once encrypted, always: a state read that missed it cannot turn it off.
  encrypted_.emplace(room_id, false);
}

rotation_policy room_registry::policy(const std::string& room_id) const {
  if (auto i = rotation_.find(room_id); i != rotation_.end())
    return i->second;
  return {};
}

const std::vector<std::string>* room_registry::members(const std::string& room_id) const {
  auto i = members_.find(room_id);
  return i != members_.end() ? &i->second : nullptr;
}

void room_registry::note_members(const std::string& room_id, std::vector<std::string> members) {
  members_[room_id] = std::move(members);
}

} // namespace hm::matrix::crypto
