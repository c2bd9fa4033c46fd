#include "matrix/crypto/room_key_sharing.hpp"

namespace hm::matrix::crypto {

shared_device shared_device_of(const device_identity& d) {
  return {d.user_id, d.device_id, d.curve25519};
}

std::string shared_set_json(const shared_set& set) {
  auto arr = nlohmann::json::array();
  for (auto& [user, device, curve] : set)
    arr.push_back({user, device, curve});
  return arr.dump();
}

shared_set shared_set_from_json(const std::string& text) {
  shared_set set;
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_array())
    for (auto& e : json)
      if (e.is_array() && e.size() == 3 && e[0].is_string() && e[1].is_string()
          && e[2].is_string())
        set.emplace(e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<std::string>());
  return set;
}

share_plan plan_room_key_share(const device_tracker& tracker,
                               const std::vector<std::string>& joined_members,
                               const own_device& self, const shared_set& already_shared) {
  share_plan plan;
  shared_set current;
  for (const auto& user : joined_members) {
    auto it = tracker.users().find(user);
    if (it == tracker.users().end() || it->second.outdated) {
      plan.query_first.push_back(user);
      if (it == tracker.users().end())
        continue;
    }
    for (const auto& [device_id, dev] : it->second.devices) {
      if (dev.user_id == self.user_id && dev.device_id == self.device_id)
        continue;
      auto key = shared_device_of(dev);
      current.insert(key);
      if (already_shared.count(key) == 0)
        plan.targets.push_back(dev);
    }
  }
  // Outdated members still count with the devices we know, so only a device we know to
  // be gone (or a member no longer joined) forces the new session.
  for (const auto& had : already_shared) {
    if (current.count(had) == 0) {
      plan.rotate = true;
      break;
    }
  }
  return plan;
}

result<room_key_delivery> room_key_messages(
    const account& acc, const own_device& self, const std::vector<device_identity>& targets,
    const nlohmann::json& room_key,
    const std::function<olm_session*(const device_identity&)>& session_for) {
  room_key_delivery out;
  for (const auto& dev : targets) {
    olm_session* s = session_for ? session_for(dev) : nullptr;
    if (s == nullptr) {
      out.skipped.push_back(dev);
      continue;
    }
    auto content = encrypt_olm(*s, acc, self, dev, "m.room_key", room_key);
    if (!content)
      return hm::unexpected{content.error()};
    out.messages[dev.user_id][dev.device_id] = std::move(content.value());
    out.delivered.push_back(dev);
  }
  return out;
}

} // namespace hm::matrix::crypto
