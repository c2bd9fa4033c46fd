// Broken Olm sessions: the crypto actor asks matrix::crypto::unwedging whether and with
// which device to start afresh, claims its one-time key, stores the new session and
// sends the m.dummy that announces it.

#include "actors/cell/crypto_state.hpp"
#include "matrix/crypto/unwedging.hpp"
#include "messages/errors.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

constexpr const char* unwedged_meta_key = "crypto.unwedged_at";

/// The replacement times, loaded from the store on first use.
crypto::unwedging& unwedging_of(crypto_state& st) {
  if (!st.unwedging)
    st.unwedging.emplace(st.store->get(unwedged_meta_key).value_or("{}"));
  return *st.unwedging;
}

void send_dummy(crypto_pointer self, const crypto::device_identity& device,
                const http_result& claimed) {
  auto& st = self->state;
  if (!succeeded(claimed)) {
    st.log->warn("cannot claim a one-time key of {} device {} ({})", device.user_id,
                 device.device_id, matrix::to_string(to_matrix_error(claimed)));
    return;
  }
  auto dummy = crypto::unwedging::dummy_for(*st.account, {st.user_id, st.config.device_id},
                                            *st.key, device, to_matrix_response(claimed));
  if (!dummy) {
    st.log->warn("cannot start a new Olm session with {} device {}: {}", device.user_id,
                 device.device_id, dummy.error().error);
    return;
  }
  // The new session is stored (and becomes the one used for this device) before the
  // message that announces it leaves.
  crypto_changes changes;
  changes.olm_sessions.push_back(dummy->session);
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return;
  }
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, dummy->send, st.next_call++))
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
  auto& unwedging = unwedging_of(st);
  auto decision = unwedging.consider(st.tracker, user_id, curve25519, unix_now_ms());
  if (auto* later = std::get_if<crypto::unwedging::not_now>(&decision)) {
    if (later->unknown_device) {
      // Its user's device list is queried before the next key share.
      st.log->warn("an Olm session with an unknown device of {} is broken; not replacing it",
                   user_id);
      st.tracker.track(user_id);
    } else {
      st.log->info("an Olm session with a device of {} broke again within the hour; not "
                   "replacing it yet",
                   user_id);
    }
    return;
  }
  auto& replace = std::get<crypto::unwedging::replace>(decision);
  if (auto written = st.store->put(unwedged_meta_key, unwedging.times_json()); !written)
    st.log->warn("cannot store when Olm sessions were replaced: {}", written.error().message);
  st.log->info("replacing the broken Olm session with {} device {}", user_id,
               replace.device.device_id);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, replace.claim, st.next_call++))
    .then([self, device = replace.device](const http_result& res) {
      send_dummy(self, device, res);
    });
}

} // namespace hm::crypto_detail
