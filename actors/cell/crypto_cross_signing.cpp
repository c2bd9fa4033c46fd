// Cross-signing this device with the owner's self-signing key (MATRIX_RECOVERY_KEY):
// the crypto actor drives matrix::crypto::own_device_signing, performing the requests
// it asks for. Its outcome is logged once per life; nothing here ever logs a key.

#include "actors/cell/crypto_state.hpp"
#include "matrix/crypto/own_device_signing.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

void drive(crypto_pointer self, crypto::own_device_signing::step step) {
  using signing = crypto::own_device_signing;
  auto& st = self->state;
  if (auto* p = std::get_if<signing::perform>(&step)) {
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, p->request, st.next_call++))
      .then([self](const http_result& res) {
        auto& s = self->state;
        drive(self, s.signing->answer(to_matrix_result(res)));
      });
    return;
  }
  if (auto* done = std::get_if<signing::signed_device>(&step)) {
    if (done->newly)
      st.log->info("signed this device with {}'s self-signing key", st.user_id);
    else
      st.log->info("this device is cross-signed by {}'s self-signing key", st.user_id);
  } else {
    st.log->error("{}", std::get<signing::failure>(step).text);
  }
  st.signing.reset();
}

} // namespace

void cross_sign_device(crypto_pointer self) {
  auto& st = self->state;
  if (st.config.recovery_key.empty() || st.cross_signing_tried)
    return;
  st.cross_signing_tried = true;
  st.signing.emplace(st.user_id, st.config.device_id, st.config.recovery_key.reveal());
  drive(self, st.signing->start());
}

} // namespace hm::crypto_detail
