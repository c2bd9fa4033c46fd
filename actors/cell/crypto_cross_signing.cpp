// Cross-signing this device with the owner's self-signing key, so that clients show the
// bot as verified by its owner. The key is read from secret storage (SSSS) with the
// recovery key of MATRIX_RECOVERY_KEY: m.secret_storage.default_key names the storage
// key, m.secret_storage.key.<id> proves the recovery key is that key, and
// m.cross_signing.self_signing holds the encrypted seed. Nothing here ever logs a key.

#include "actors/cell/crypto_state.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/cross_signing.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/secret_storage.hpp"

#include <spdlog/logger.h>

#include <functional>

namespace hm::crypto_detail {

namespace {

using done_fn = std::function<void(const nlohmann::json&)>;

/// Reads one account data event of our user, then `done`; a failure is logged with
/// `what` and ends the attempt (cross-signing is retried at the next start).
void read_account_data(crypto_pointer self, const std::string& type, const std::string& what,
                       done_fn done) {
  auto& st = self->state;
  auto req = matrix::get_account_data_request(st.user_id, type);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, what, done = std::move(done)](const http_result& res) {
      auto& s = self->state;
      if (!succeeded(res)) {
        s.log->error("cannot cross-sign this device: {} ({})", what,
                     matrix::to_string(to_matrix_error(res)));
        return;
      }
      auto content = matrix::parse_account_data(to_matrix_response(res));
      if (!content) {
        s.log->error("cannot cross-sign this device: {} is unreadable", what);
        return;
      }
      done(content.value());
    });
}

/// Signs the device keys the server holds for this device and uploads the signature.
void sign_and_upload(crypto_pointer self, std::shared_ptr<crypto::self_signing_key> ssk) {
  auto& st = self->state;
  crypto::device_tracker own;
  own.track(st.user_id);
  std::vector<std::string> queried;
  auto req = own.next_query(queried);
  if (!req)
    return;
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, *req, st.next_call++))
    .then([self, ssk](const http_result& res) {
      auto& s = self->state;
      auto& user = s.user_id;
      auto body = succeeded(res) ? matrix::parse_bounded_json(to_matrix_response(res).body)
                                 : std::nullopt;
      if (!body || !body->is_object()) {
        s.log->error("cannot cross-sign this device: /keys/query failed");
        return;
      }
      auto published = body->value("/self_signing_keys"_json_pointer / user, nlohmann::json{});
      if (!ssk->matches(published, user)) {
        s.log->error("cannot cross-sign this device: the self-signing key in secret storage "
                     "is not the one {} publishes", user);
        return;
      }
      auto device = body->value("/device_keys"_json_pointer / user / s.config.device_id,
                                nlohmann::json{});
      if (!device.is_object()) {
        s.log->error("cannot cross-sign this device: the server holds no keys for it");
        return;
      }
      auto key_id = "ed25519:" + ssk->public_key();
      if (auto sigs = device.find("signatures"); sigs != device.end() && sigs->is_object()
                                                 && sigs->contains(user)
                                                 && (*sigs)[user].contains(key_id)) {
        s.log->info("this device is cross-signed by {}'s self-signing key", user);
        return;
      }
      device.erase("unsigned");
      auto signed_keys = ssk->sign_device(std::move(device), user);
      if (!signed_keys) {
        s.log->error("cannot cross-sign this device: {}", signed_keys.error().errcode);
        return;
      }
      auto up = crypto::signatures_upload_request(user, s.config.device_id,
                                                  std::move(signed_keys).value());
      self->request(s.link.engine, caf::infinite, to_http_call(s.link, up, s.next_call++))
        .then([self](const http_result& r) {
          auto& s2 = self->state;
          auto parsed = succeeded(r) ? matrix::parse_bounded_json(to_matrix_response(r).body)
                                     : std::nullopt;
          bool failed = !parsed || !parsed->is_object()
                        || !parsed->value("failures", nlohmann::json::object()).empty();
          if (failed)
            s2.log->error("cannot cross-sign this device: the server refused the signature");
          else
            s2.log->info("signed this device with {}'s self-signing key", s2.user_id);
        });
    });
}

} // namespace

void cross_sign_device(crypto_pointer self) {
  auto& st = self->state;
  if (st.config.recovery_key.empty() || st.cross_signing_tried)
    return;
  st.cross_signing_tried = true;
  auto key = crypto::decode_recovery_key(st.config.recovery_key.reveal());
  if (!key) {
    st.log->error("cannot cross-sign this device: MATRIX_RECOVERY_KEY is not a recovery key "
                  "(it looks like 'EsT1 H3Wm ...', as Element shows it)");
    return;
  }
  auto storage_key = std::make_shared<crypto::secret_bytes>(std::move(key).value());
  read_account_data(
    self, "m.secret_storage.default_key", "no default secret storage key",
    [self, storage_key](const nlohmann::json& def) {
      auto id = def.value("key", std::string{});
      if (id.empty()) {
        self->state.log->error("cannot cross-sign this device: no default secret storage key");
        return;
      }
      read_account_data(
        self, "m.secret_storage.key." + id, "no description of the secret storage key",
        [self, storage_key, id](const nlohmann::json& description) {
          if (!crypto::secret_storage_key_matches(*storage_key, description)) {
            self->state.log->error("cannot cross-sign this device: MATRIX_RECOVERY_KEY is not "
                                   "the key of this account's secret storage");
            return;
          }
          read_account_data(
            self, "m.cross_signing.self_signing", "no self-signing key in secret storage",
            [self, storage_key, id](const nlohmann::json& stored) {
              auto seed = crypto::decrypt_secret(*storage_key, id, "m.cross_signing.self_signing",
                                                 stored);
              auto unreadable = [self] {
                self->state.log->error("cannot cross-sign this device: the self-signing key "
                                       "in secret storage cannot be read with this key");
              };
              if (!seed) {
                unreadable();
                return;
              }
              auto ssk = crypto::self_signing_key::from_secret(seed.value());
              if (!ssk) {
                unreadable();
                return;
              }
              sign_and_upload(self, std::make_shared<crypto::self_signing_key>(
                                       std::move(ssk).value()));
            });
        });
    });
}

} // namespace hm::crypto_detail
