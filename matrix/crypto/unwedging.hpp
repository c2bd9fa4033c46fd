#pragma once

// Broken Olm sessions, sans I/O. When a device's Olm message fits none of our sessions
// (we lost the session, or the other side uses one we never had), nothing it sends over
// Olm can be read until one side starts afresh. We do: claim one of its one-time keys,
// start a new session and send an m.dummy over it, so that its next messages use the
// new one. At most once an hour per device (the times are kept in the store, so that a
// restart does not start another), and only with a device whose keys we checked.

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/crypto_store.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

namespace hm::matrix::crypto {

class unwedging {
public:
  static constexpr std::int64_t interval_ms = 60LL * 60 * 1000;

  /// With the replacement times as stored (times_json(); unreadable text: none).
  explicit unwedging(std::string_view stored_times = "{}");

  /// Replace the session: claim a one-time key of `device` with `claim` (the time is
  /// noted: store times_json() now).
  struct replace {
    device_identity device;
    http_request claim;
  };
  /// Not now: replaced within the hour, or a device whose keys we never checked (its
  /// user's device list must be queried: track the user).
  struct not_now {
    bool unknown_device = false;
  };
  [[nodiscard]] std::variant<replace, not_now>
  consider(const device_tracker& tracker, const std::string& user_id,
           const std::string& curve25519, std::int64_t now_ms);

  /// The replacement times to store (those older than the interval are dropped).
  [[nodiscard]] std::string times_json() const;

  /// The new session from what /keys/claim answered for `device`, and the to-device
  /// request carrying an m.dummy over it: store the session before the request leaves.
  /// HM_BAD_KEY when the device has no one-time key left.
  struct dummy {
    olm_session_row session;
    http_request send;
  };
  [[nodiscard]] static result<dummy> dummy_for(const account& acc, const own_device& self,
                                               const pickle_key& key,
                                               const device_identity& device,
                                               const http_response& claimed);

private:
  std::map<std::string, std::int64_t> times_; ///< curve25519 → last replaced (Unix ms)
  std::int64_t now_ms_ = 0;                   ///< of the last consider()
};

} // namespace hm::matrix::crypto
