#pragma once

#include "actors/cell/cell_context.hpp"
#include "messages/interfaces.hpp"
#include "profiles/secret.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace hm {

/// What the crypto actor of one Matrix device needs to know besides its cell's context
/// (whose user it is; the cell is told which parked events to retry when their keys
/// arrive).
struct crypto_config {
  std::string device_id;
  secret pickle_key; ///< MATRIX_PICKLE_KEY; empty: the key file beside the store
  bool required = false;   ///< MATRIX_E2EE_MODE=required: never plaintext into a room
  secret recovery_key;     ///< MATRIX_RECOVERY_KEY: sign this device with the self-signing key
  /// Whether a user may verify with this device (SAS): the profile's allowed users and
  /// the bot's own user; others are declined.
  std::function<bool(const std::string&)> may_verify;
  bool create_key_backup = false; ///< MATRIX_KEY_BACKUP=create
};

/// Spawns the crypto actor of a profile's device, linked to its cell. At spawn it
/// loads the pickle key and this device's Olm account from the store (creating and
/// committing one on first start); then it asks the server for this device's keys
/// (/keys/query): keys other than ours end the cell with errc::device_mismatch, no
/// keys mean they are uploaded (signed), together with one-time keys and a fallback
/// key, kept topped up from the counts every sync batch brings. A pickle made with
/// another key ends the cell with errc::bad_pickle_key; an unusable key or key file
/// with errc::bad_config; a store that fails with errc::store_failed. Decryption
/// failures, parked events, one-time keys, Megolm sessions and key shares are counted
/// in `metrics`.
[[nodiscard]] crypto_actor spawn_crypto(caf::local_actor* cell_self, const cell_context& ctx,
                                        crypto_config config);

} // namespace hm
