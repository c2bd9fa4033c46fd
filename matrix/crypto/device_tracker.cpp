#include "matrix/crypto/device_tracker.hpp"

#include <algorithm>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/signatures.hpp"

namespace hm::matrix::crypto {

namespace {

result<nlohmann::json> success_object(const http_response& r, std::string_view what) {
  if (r.status < 200 || r.status >= 300)
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{32, 64u << 20}, &why);
  if (!j)
    return hm::unexpected{bad_response(r.status, std::string{what} + ": " + why)};
  if (!j->is_object())
    return hm::unexpected{bad_response(r.status, std::string{what} + ": body is not a JSON object")};
  return std::move(*j);
}

http_request post(std::string_view endpoint, nlohmann::json body) {
  http_request r;
  r.method = http_method::post;
  r.target = std::string{client_v3} + std::string{endpoint};
  r.body = std::move(body);
  return r;
}

} // namespace

result<device_identity> verify_device_keys(const nlohmann::json& dk, const std::string& user_id,
                                           const std::string& device_id) {
  auto bad = [&](std::string why) {
    return hm::unexpected{crypto_error(errcode_bad_key, "device " + device_id + " of " + user_id + ": " + why)};
  };
  if (!dk.is_object())
    return bad("not an object");
  if (string_field(dk, "user_id") != user_id || string_field(dk, "device_id") != device_id)
    return bad("user_id or device_id differ from where it is listed");
  const auto* keys = object_field(dk, "keys");
  auto ed = keys ? string_field(*keys, "ed25519:" + device_id) : std::nullopt;
  auto curve = keys ? string_field(*keys, "curve25519:" + device_id) : std::nullopt;
  if (!ed || !curve)
    return bad("lacks its ed25519 or curve25519 key");
  if (auto v = verify_signature(*ed, dk, user_id, device_id); !v)
    return hm::unexpected{v.error()};
  return device_identity{user_id, device_id, std::move(*curve), std::move(*ed)};
}

device_tracker::device_tracker(std::map<std::string, tracked_user> stored)
    : users_(std::move(stored)) {}

void device_tracker::track(const std::string& user_id) {
  if (users_.emplace(user_id, tracked_user{}).second)
    changed_at_[user_id] = ++generation_;
}

void device_tracker::untrack(const std::string& user_id) {
  users_.erase(user_id);
  in_flight_.erase(user_id);
  changed_at_.erase(user_id);
}

bool device_tracker::is_tracked(const std::string& user_id) const {
  return users_.count(user_id) != 0;
}

void device_tracker::apply(const device_list_changes& changes) {
  for (const auto& u : changes.changed) {
    auto it = users_.find(u);
    if (it == users_.end())
      continue;
    it->second.outdated = true;
    changed_at_[u] = ++generation_;
  }
  for (const auto& u : changes.left)
    untrack(u);
}

std::optional<http_request> device_tracker::next_query(std::vector<std::string>& queried,
                                                       std::size_t max_users) {
  queried.clear();
  nlohmann::json device_keys = nlohmann::json::object();
  for (const auto& [user, state] : users_) {
    if (queried.size() >= max_users)
      break;
    if (!state.outdated || in_flight_.count(user) != 0)
      continue;
    queried.push_back(user);
    in_flight_[user] = generation_;
    device_keys[user] = nlohmann::json::array(); // all devices
  }
  if (queried.empty())
    return std::nullopt;
  return post("/keys/query", nlohmann::json{{"device_keys", std::move(device_keys)}});
}

void device_tracker::query_failed(const std::vector<std::string>& queried) {
  for (const auto& u : queried)
    in_flight_.erase(u);
}

result<query_outcome> device_tracker::apply_query_response(const http_response& r,
                                                           const std::vector<std::string>& queried) {
  auto body = success_object(r, "keys/query");
  if (!body) {
    query_failed(queried);
    return hm::unexpected{body.error()};
  }
  const auto* all = object_field(body.value(), "device_keys");
  query_outcome out;
  for (const auto& user : queried) {
    auto flight = in_flight_.find(user);
    std::uint64_t sent_at = flight == in_flight_.end() ? 0 : flight->second;
    if (flight != in_flight_.end())
      in_flight_.erase(flight);
    auto it = users_.find(user);
    if (it == users_.end())
      continue; // untracked meanwhile
    auto& state = it->second;
    const auto* listed = all ? object_field(*all, user) : nullptr;
    // A user's server that failed to answer is reported under "failures" by server
    // name; a user missing from device_keys is the same for us: ask again later.
    if (listed == nullptr) {
      out.still_outdated.push_back(user);
      continue;
    }
    std::map<std::string, device_identity> now;
    for (const auto& [device_id, dk] : listed->items()) {
      auto dev = verify_device_keys(dk, user, device_id);
      if (!dev) {
        out.rejected.push_back({user, device_id, dev.error().error});
        continue;
      }
      auto known = state.devices.find(device_id);
      if (known != state.devices.end() && known->second.ed25519 != dev->ed25519) {
        out.rejected.push_back({user, device_id, "its ed25519 key changed; keeping the old one"});
        now.emplace(device_id, known->second);
        continue;
      }
      if (known == state.devices.end())
        out.new_devices.push_back(dev.value());
      now.emplace(device_id, std::move(dev.value()));
    }
    for (const auto& [device_id, dev] : state.devices)
      if (now.count(device_id) == 0)
        out.removed_devices.push_back(dev);
    state.devices = std::move(now);
    auto changed = changed_at_.find(user);
    if (changed != changed_at_.end() && changed->second > sent_at) {
      out.still_outdated.push_back(user); // changed while we asked: ask again
    } else {
      state.outdated = false;
      out.updated_users.push_back(user);
    }
  }
  return out;
}

const std::map<std::string, device_identity>* device_tracker::devices(
    const std::string& user_id) const {
  auto it = users_.find(user_id);
  return it == users_.end() ? nullptr : &it->second.devices;
}

http_request keys_claim_request(const std::vector<device_identity>& devices) {
  nlohmann::json otks = nlohmann::json::object();
  for (const auto& d : devices)
    otks[d.user_id][d.device_id] = std::string{signed_curve25519};
  return post("/keys/claim", nlohmann::json{{"one_time_keys", std::move(otks)}});
}

result<claimed_keys> parse_keys_claim(const http_response& r) {
  auto body = success_object(r, "keys/claim");
  if (!body)
    return hm::unexpected{body.error()};
  claimed_keys out;
  const auto* otks = object_field(body.value(), "one_time_keys");
  if (otks == nullptr)
    return out;
  for (const auto& [user, devices] : otks->items()) {
    if (!devices.is_object())
      continue;
    for (const auto& [device, keys] : devices.items())
      if (keys.is_object() && !keys.empty())
        out[user][device] = keys;
  }
  return out;
}

std::string tracked_users_json(const std::map<std::string, tracked_user>& users) {
  auto out = nlohmann::json::object();
  for (auto& [user, t] : users) {
    auto devices = nlohmann::json::object();
    for (auto& [id, d] : t.devices)
      devices[id] = {{"curve25519", d.curve25519}, {"ed25519", d.ed25519}};
    out[user] = {{"outdated", t.outdated}, {"devices", std::move(devices)}};
  }
  return out.dump();
}

std::map<std::string, tracked_user> tracked_users_from_json(const std::string& text) {
  std::map<std::string, tracked_user> users;
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object())
    return users;
  for (auto& [user, t] : json.items()) {
    if (!t.is_object())
      continue;
    tracked_user tu;
    tu.outdated = t.value("outdated", true);
    if (auto d = t.find("devices"); d != t.end() && d->is_object())
      for (auto& [id, dev] : d->items())
        if (dev.is_object() && dev.value("curve25519", "") != "" && dev.value("ed25519", "") != "")
          tu.devices[id] = {user, id, dev.value("curve25519", ""), dev.value("ed25519", "")};
    users[user] = std::move(tu);
  }
  return users;
}

} // namespace hm::matrix::crypto
