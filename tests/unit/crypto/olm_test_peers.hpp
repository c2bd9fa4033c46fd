#pragma once

// Two devices, Alice's and Bob's, for the Olm and Megolm suites: their accounts, how
// each appears to the other, and a one-time key Bob "uploaded" for Alice to claim.

#include <string>

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "matrix/crypto/olm_sessions.hpp"

namespace hm::matrix::crypto::test {

inline pickle_key test_pickle_key() {
  return std::move(pickle_key::from_bytes("0123456789abcdef0123456789abcdef").value());
}

struct peer {
  account acc;
  own_device self;
  device_identity as_seen_by_others;

  explicit peer(std::string user, std::string device)
      : acc(std::move(account::create().value())), self{user, device},
        as_seen_by_others{user, device, acc.identity().curve25519, acc.identity().ed25519} {}

  /// What /keys/claim would return for this device: one of its signed one-time keys.
  nlohmann::json claim_one_time_key() {
    keys_upload_state st;
    st.server_one_time_keys = 0;
    auto req = prepare_keys_upload(acc, self.user_id, self.device_id, st);
    const auto& otks = (*req.value()->body)["one_time_keys"];
    acc.mark_keys_as_published();
    auto it = otks.begin();
    return nlohmann::json{{it.key(), it.value()}};
  }
};

} // namespace hm::matrix::crypto::test
