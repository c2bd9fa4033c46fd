#pragma once

// Which keys the homeserver holds for our own device, sans I/O: ours (published), none
// yet (upload them), or other ones. Other keys mean the device id now belongs to another
// account, or our store is not this device's: continuing would encrypt as someone we
// are not, so the caller stops the profile.

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <string>

namespace hm::matrix::crypto {

struct own_device_on_server {
  enum class state { ours, absent, other };
  state what = state::absent;
  std::string mismatch; ///< other: how the keys differ (no key material)
};

/// The /keys/query asking for our own user's devices.
[[nodiscard]] http_request own_device_query(const own_device& self);

/// Reads the answer to own_device_query(); an error when the answer is not a readable
/// 2xx (ask again later).
[[nodiscard]] result<own_device_on_server>
check_own_device(const http_response& answer, const own_device& self, const identity_keys& ours);

} // namespace hm::matrix::crypto
