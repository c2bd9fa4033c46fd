#include "matrix/crypto/unwedging.hpp"

#include "matrix/client_api.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/txn_id.hpp"

#include <nlohmann/json.hpp>

namespace hm::matrix::crypto {

unwedging::unwedging(std::string_view stored_times) {
  auto json = nlohmann::json::parse(stored_times, nullptr, false);
  if (json.is_object())
    for (auto& [curve, at] : json.items())
      if (at.is_number_integer())
        times_[curve] = at.get<std::int64_t>();
}

std::variant<unwedging::replace, unwedging::not_now>
unwedging::consider(const device_tracker& tracker, const std::string& user_id,
                    const std::string& curve25519, std::int64_t now_ms) {
  now_ms_ = now_ms;
  if (auto last = times_.find(curve25519);
      last != times_.end() && now_ms - last->second < interval_ms)
    return not_now{false};
  // Only a device whose keys we checked: any other one's identity is unknown.
  if (auto* devices = tracker.devices(user_id))
    for (auto& [id, d] : *devices)
      if (d.curve25519 == curve25519) {
        times_[curve25519] = now_ms;
        return replace{d, keys_claim_request({d})};
      }
  return not_now{true};
}

std::string unwedging::times_json() const {
  auto json = nlohmann::json::object();
  for (auto& [curve, at] : times_)
    if (now_ms_ - at < interval_ms)
      json[curve] = at;
  return json.dump();
}

result<unwedging::dummy> unwedging::dummy_for(const account& acc, const own_device& self,
                                              const pickle_key& key,
                                              const device_identity& device,
                                              const http_response& claimed) {
  auto keys = parse_keys_claim(claimed);
  if (!keys)
    return hm::unexpected{keys.error()};
  auto u = keys->find(device.user_id);
  if (u == keys->end() || u->second.count(device.device_id) == 0)
    return hm::unexpected{crypto_error(errcode_bad_key, "the device has no one-time key left")};
  auto session = create_outbound_session(acc, device, u->second.at(device.device_id));
  if (!session)
    return hm::unexpected{session.error()};
  auto content = encrypt_olm(session.value(), acc, self, device, "m.dummy",
                             nlohmann::json::object());
  if (!content)
    return hm::unexpected{content.error()};
  auto pickle = session->pickle(key);
  if (!pickle)
    return hm::unexpected{pickle.error()};
  nlohmann::json messages{{device.user_id, {{device.device_id, content.value()}}}};
  auto txn = derive_txn_id(session->id(), 0, "dummy");
  return dummy{{device.curve25519, session->id(), std::move(pickle).value()},
               send_to_device_request("m.room.encrypted", txn, messages)};
}

} // namespace hm::matrix::crypto
