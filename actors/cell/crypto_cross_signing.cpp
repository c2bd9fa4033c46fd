// Cross-signing with the owner's keys (MATRIX_RECOVERY_KEY): this device with the
// self-signing key (matrix::crypto::own_device_signing, once per life), and a person
// verified by SAS with the user-signing key (matrix::crypto::user_identity_signing). The
// crypto actor performs the requests they ask for and logs their outcome; nothing here
// ever logs a key.

#include "actors/cell/crypto_drive.hpp"
#include "actors/cell/crypto_state.hpp"
#include "matrix/crypto/own_device_signing.hpp"
#include "matrix/crypto/user_identity_signing.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

void next_identity(crypto_pointer self) {
  using signing = crypto::user_identity_signing;
  auto& st = self->state;
  if (st.identity_signing || st.identities_to_sign.empty())
    return;
  auto& [user, master] = st.identities_to_sign.front();
  st.identity_signing.emplace(st.user_id, st.config.recovery_key.reveal(), user, master);
  drive<signing>(self, [](crypto_state& s) -> signing& { return *s.identity_signing; },
                 st.identity_signing->start(), [self](const signing::step& step) {
          auto& s = self->state;
          auto& whose = s.identities_to_sign.front().first;
          if (auto* done = std::get_if<signing::signed_identity>(&step); done && done->newly)
            s.log->info("signed {}'s identity with {}'s user-signing key", whose, s.user_id);
          else if (done)
            s.log->info("{}'s identity is signed by {}'s user-signing key already", whose,
                        s.user_id);
          else
            s.log->warn("{}", std::get<signing::failure>(step).text);
          s.identity_signing.reset();
          s.identities_to_sign.pop_front();
          next_identity(self);
        });
}

} // namespace

void sign_user_identity(crypto_pointer self, const std::string& user_id,
                        const std::string& master_key) {
  auto& st = self->state;
  if (st.config.recovery_key.empty()) {
    st.log->info("no MATRIX_RECOVERY_KEY, so no user-signing key: {}'s identity is verified "
                 "but not signed by the bot",
                 user_id);
    return;
  }
  st.identities_to_sign.emplace_back(user_id, master_key);
  next_identity(self);
}

void cross_sign_device(crypto_pointer self) {
  using signing = crypto::own_device_signing;
  auto& st = self->state;
  if (st.config.recovery_key.empty() || st.cross_signing_tried)
    return;
  st.cross_signing_tried = true;
  st.signing.emplace(st.user_id, st.config.device_id, st.config.recovery_key.reveal());
  drive<signing>(self, [](crypto_state& s) -> signing& { return *s.signing; }, st.signing->start(),
                 [self](const signing::step& step) {
    auto& s = self->state;
    if (auto* done = std::get_if<signing::signed_device>(&step))
      s.own_master_key = done->master_key;
    if (auto* done = std::get_if<signing::signed_device>(&step); done && done->newly)
      s.log->info("signed this device with {}'s self-signing key", s.user_id);
    else if (done)
      s.log->info("this device is cross-signed by {}'s self-signing key", s.user_id);
    else
      s.log->error("{}", std::get<signing::failure>(step).text);
    s.signing.reset();
  });
}

} // namespace hm::crypto_detail
