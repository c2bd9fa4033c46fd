#include "app/status_json.hpp"

#include "hm/version.hpp"

#include <chrono>
#include <ctime>

namespace hm {

namespace {

bool never(caf::timestamp t) {
  return t == caf::timestamp{};
}

double seconds(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000.0;
}

} // namespace

std::string rfc3339(caf::timestamp t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  auto tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json verification_json(const verification_view& v) {
  auto emoji = nlohmann::json::array();
  for (size_t i = 0; i < v.emoji_symbols.size() && i < v.emoji_names.size(); ++i)
    emoji.push_back({{"symbol", v.emoji_symbols[i]}, {"name", v.emoji_names[i]}});
  nlohmann::json j{{"flow_id", v.flow_id},     {"user_id", v.user_id},
                   {"device_id", v.device_id}, {"transport", v.transport},
                   {"state", v.state},         {"emoji", std::move(emoji)},
                   {"decimals", v.decimals}};
  if (v.transport == "in_room")
    j["room_id"] = v.room_id;
  if (!v.cancel_code.empty()) {
    j["cancel_code"] = v.cancel_code;
    j["cancel_reason"] = v.cancel_reason;
  }
  return j;
}

nlohmann::json status_json(const std::vector<profile_status>& profiles, caf::timestamp now) {
  auto list = nlohmann::json::array();
  for (auto& p : profiles) {
    nlohmann::json j{
      {"profile", p.profile},
      {"state", to_string(p.state)},
      {"user_id", p.user_id},
      {"device_id", p.device_id},
      {"synced", p.synced},
      {"last_sync", nullptr},
      {"last_sync_age_seconds", nullptr},
      {"outbox_queue", p.outbox_queue},
      {"restarts", p.restarts},
      {"next_restart_in_seconds", seconds(p.next_restart_in)},
      {"last_error", p.last_error},
      {"state_since", never(p.since) ? nlohmann::json(nullptr) : nlohmann::json(rfc3339(p.since))},
    };
    auto verifications = nlohmann::json::array();
    for (auto& v : p.verifications)
      verifications.push_back(verification_json(v));
    j["verifications"] = std::move(verifications);
    if (!never(p.last_sync)) {
      j["last_sync"] = rfc3339(p.last_sync);
      j["last_sync_age_seconds"] = seconds(now - p.last_sync);
    }
    list.push_back(std::move(j));
  }
  return {{"version", std::string{hm::version}}, {"profiles", std::move(list)}};
}

nlohmann::json cluster_status_json(const std::vector<profile_status>& profiles,
                                   const std::vector<node_view>& nodes, caf::timestamp now) {
  auto out = status_json(profiles, now);
  auto& list = out["profiles"];
  for (size_t i = 0; i < profiles.size() && i < list.size(); ++i)
    list[i]["node"] = profiles[i].node.empty() ? nlohmann::json(nullptr)
                                               : nlohmann::json(profiles[i].node);
  auto node_list = nlohmann::json::array();
  for (auto& n : nodes)
    node_list.push_back({{"name", n.name},
                         {"alive", n.alive},
                         {"profiles", n.leases},
                         {"last_renewal_age_seconds", seconds(n.since_renewal)}});
  out["nodes"] = std::move(node_list);
  return out;
}

std::vector<const profile_status*> not_ready(const std::vector<profile_status>& profiles) {
  std::vector<const profile_status*> result;
  for (auto& p : profiles)
    if (p.state != profile_state::invalid && !(p.state == profile_state::running && p.synced))
      result.push_back(&p);
  return result;
}

} // namespace hm
