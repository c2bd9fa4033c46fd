#include "actors/cell/crypto_account.hpp"

#include "matrix/crypto/crypto_errors.hpp"
#include "messages/errors.hpp"

namespace hm {

namespace crypto = matrix::crypto;

std::variant<crypto::account, caf::error>
load_or_create_account(profile_store& store, const crypto::pickle_key& key,
                       const std::string& user_id, const std::string& device_id) {
  if (auto row = store.crypto_account()) {
    // A store that holds another device's account must not be used for this one:
    // its keys are published under the other device id (design: State).
    if (row->user_id != user_id || row->device_id != device_id)
      return make_error(errc::device_mismatch,
                        "the crypto store " + store.path().string() + " belongs to "
                          + row->user_id + " device " + row->device_id + ", not to "
                          + user_id + " device " + device_id
                          + "; use that device's access token or move the store away");
    auto acc = crypto::account::from_pickle(row->pickle, key);
    if (!acc) {
      if (acc.error().errcode == crypto::errcode_bad_pickle_key)
        return make_error(errc::bad_pickle_key,
                          "the crypto store " + store.path().string()
                            + " was written with another pickle key: restore the original "
                              "MATRIX_PICKLE_KEY (or key file), or move the store away to "
                              "start afresh as a new device");
      return make_error(errc::store_failed, "the Olm account in " + store.path().string()
                                              + " is unreadable: " + acc.error().errcode);
    }
    return std::move(acc).value();
  }
  auto acc = crypto::account::create();
  if (!acc)
    return make_error(errc::internal, "cannot create an Olm account: " + acc.error().error);
  auto pickle = acc->pickle(key);
  if (!pickle)
    return make_error(errc::internal, "cannot pickle the Olm account: " + pickle.error().error);
  crypto_changes changes;
  changes.account = crypto_account_row{user_id, device_id, acc->identity().curve25519,
                                       acc->identity().ed25519, std::move(pickle).value()};
  if (auto err = store.commit_crypto(changes))
    return make_error(errc::store_failed,
                      "cannot store the new Olm account in " + store.path().string() + ": "
                        + *err);
  return std::move(acc).value();
}

} // namespace hm
