// Broken Olm sessions: when a device's Olm message fits none of our sessions (we lost
// the session, or the other side uses one we never had), nothing it sends over Olm can
// be read until one side starts afresh. We do: claim one of its one-time keys, start a
// new session and send an m.dummy over it, so that its next messages use the new one.

#include "actors/cell/crypto_state.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

constexpr int64_t unwedge_interval_ms = 60LL * 60 * 1000;
constexpr const char* unwedged_meta_key = "crypto.unwedged_at";

/// The replacement times, loaded from the store on first use (unreadable: none).
std::map<std::string, int64_t>& unwedged_times(crypto_state& st) {
  if (!st.unwedged_at) {
    st.unwedged_at.emplace();
    auto json = nlohmann::json::parse(st.store->get(unwedged_meta_key).value_or("{}"), nullptr,
                                      false);
    if (json.is_object())
      for (auto& [curve, at] : json.items())
        if (at.is_number_integer())
          (*st.unwedged_at)[curve] = at.get<int64_t>();
  }
  return *st.unwedged_at;
}

/// Records a replacement now, dropping those older than the interval.
void note_unwedged(crypto_state& st, const std::string& curve25519, int64_t now) {
  auto& times = unwedged_times(st);
  times[curve25519] = now;
  auto json = nlohmann::json::object();
  for (auto i = times.begin(); i != times.end();) {
    if (now - i->second >= unwedge_interval_ms) {
      i = times.erase(i);
      continue;
    }
    json[i->first] = i->second;
    ++i;
  }
  if (auto err = st.store->put(unwedged_meta_key, json.dump()))
    st.log->warn("cannot store when Olm sessions were replaced: {}", *err);
}

std::optional<crypto::device_identity> device_with_key(const crypto_state& st,
                                                       const std::string& user_id,
                                                       const std::string& curve25519) {
  if (auto* devices = st.tracker.devices(user_id))
    for (auto& [id, d] : *devices)
      if (d.curve25519 == curve25519)
        return d;
  return std::nullopt;
}

void send_dummy(crypto_pointer self, const crypto::device_identity& device,
                const nlohmann::json& one_time_key) {
  auto& st = self->state;
  auto session = crypto::create_outbound_session(*st.account, device, one_time_key);
  if (!session) {
    st.log->warn("cannot start a new Olm session with {} device {}: {}", device.user_id,
                 device.device_id, session.error().errcode);
    return;
  }
  auto content = crypto::encrypt_olm(session.value(), *st.account,
                                     {st.user_id, st.config.device_id}, device, "m.dummy",
                                     nlohmann::json::object());
  auto pickle = session->pickle(*st.key);
  if (!content || !pickle) {
    st.log->warn("cannot encrypt an m.dummy for {} device {}", device.user_id, device.device_id);
    return;
  }
  // The new session is stored (and becomes the one used for this device) before the
  // message that announces it leaves.
  crypto_changes changes;
  changes.olm_sessions.push_back({device.curve25519, session->id(), std::move(pickle).value()});
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return;
  }
  nlohmann::json messages{{device.user_id, {{device.device_id, content.value()}}}};
  auto txn = matrix::derive_txn_id(session->id(), 0, "dummy");
  auto req = matrix::send_to_device_request("m.room.encrypted", txn, messages);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, device](const http_result& res) {
      auto& s = self->state;
      if (!succeeded(res))
        s.log->warn("cannot send the m.dummy to {} device {} ({})", device.user_id,
                    device.device_id, matrix::to_string(to_matrix_error(res)));
      else
        s.log->info("sent an m.dummy over the new Olm session with {} device {}",
                    device.user_id, device.device_id);
    });
}

} // namespace

void replace_broken_session(crypto_pointer self, const std::string& user_id,
                            const std::string& curve25519) {
  auto& st = self->state;
  auto now = unix_now_ms();
  auto& times = unwedged_times(st);
  auto last = times.find(curve25519);
  if (last != times.end() && now - last->second < unwedge_interval_ms) {
    st.log->info("an Olm session with a device of {} broke again within the hour; not "
                 "replacing it yet",
                 user_id);
    return;
  }
  auto device = device_with_key(st, user_id, curve25519);
  if (!device) {
    // A device we hold no checked keys for: its identity is unknown, so no session is
    // started with it; its user's list is queried before the next key share.
    st.log->warn("an Olm session with an unknown device of {} is broken; not replacing it",
                 user_id);
    st.tracker.track(user_id);
    return;
  }
  note_unwedged(st, curve25519, now);
  st.log->info("replacing the broken Olm session with {} device {}", user_id, device->device_id);
  auto req = crypto::keys_claim_request({*device});
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, device = *device](const http_result& res) {
      auto& s = self->state;
      if (!succeeded(res)) {
        s.log->warn("cannot claim a one-time key of {} device {} ({})", device.user_id,
                    device.device_id, matrix::to_string(to_matrix_error(res)));
        return;
      }
      auto keys = crypto::parse_keys_claim(to_matrix_response(res));
      if (!keys)
        return;
      auto u = keys->find(device.user_id);
      if (u == keys->end() || u->second.count(device.device_id) == 0) {
        s.log->warn("{} device {} has no one-time key left", device.user_id, device.device_id);
        return;
      }
      send_dummy(self, device, u->second.at(device.device_id));
    });
}

} // namespace hm::crypto_detail
