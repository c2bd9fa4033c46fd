#pragma once

// Which devices the users we share encrypted rooms with have, kept current: a state
// machine per tracked user (outdated → queried → up to date, back to outdated when
// /sync's device_lists.changed names them), the /keys/query requests that brings, and
// the checks every reported device must pass before we encrypt to it. Also /keys/claim
// for devices we have no Olm session with yet.
//
// Persistence: users() is what the caller stores (and hands back to the constructor at
// start). Queries in flight are not stored: after a restart those users are still
// outdated and get queried again.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"
#include "matrix/sync.hpp"

namespace hm::matrix::crypto {

struct tracked_user {
  bool outdated = true; // the device list must be queried before it is used
  std::map<std::string, device_identity> devices; // by device id; only verified devices
};

/// A device /keys/query reported that we did not take, and why (no key material in it).
struct rejected_device {
  std::string user_id;
  std::string device_id;
  std::string reason;
};

/// What applying a /keys/query response changed.
struct query_outcome {
  std::vector<std::string> updated_users;  // now up to date
  std::vector<std::string> still_outdated; // the server failed them, or they changed meanwhile
  std::vector<device_identity> new_devices;
  /// Devices gone from a user's list: outbound Megolm sessions they had must rotate.
  std::vector<device_identity> removed_devices;
  std::vector<rejected_device> rejected;
};

class device_tracker {
public:
  explicit device_tracker(std::map<std::string, tracked_user> stored = {});

  /// Starts tracking `user_id` (a member of an encrypted room); no-op when tracked.
  void track(const std::string& user_id);
  /// Stops tracking (no encrypted room shared any more); forgets the devices.
  void untrack(const std::string& user_id);
  [[nodiscard]] bool is_tracked(const std::string& user_id) const;

  /// /sync's device_lists: `changed` marks tracked users outdated (untracked ones are
  /// ignored: the server tells about everyone we share a room with), `left` untracks.
  void apply(const device_list_changes& changes);

  /// The next /keys/query to send: up to `max_users` outdated users that have no query
  /// in flight (one query per user at a time); they are now in flight. Nullopt when
  /// there is nothing to ask. `queried` receives the users the request is about.
  [[nodiscard]] std::optional<http_request> next_query(std::vector<std::string>& queried,
                                                       std::size_t max_users = 250);

  /// Applies the response to the query for `queried`. Each device must name the user and
  /// device it is listed under, carry ed25519:<id> and curve25519:<id> keys and be
  /// signed by that ed25519 key; a device we know whose ed25519 key changed is refused
  /// (a device id is not reused with new keys; that is an attack or a bug). A non-2xx or
  /// unreadable response is an error; the users stay outdated and may be queried again.
  [[nodiscard]] result<query_outcome> apply_query_response(const http_response& r,
                                                           const std::vector<std::string>& queried);
  /// The query for `queried` got no answer: they may be queried again.
  void query_failed(const std::vector<std::string>& queried);

  [[nodiscard]] const std::map<std::string, tracked_user>& users() const noexcept {
    return users_;
  }
  /// The verified devices of `user_id` (nullptr when untracked).
  [[nodiscard]] const std::map<std::string, device_identity>* devices(
      const std::string& user_id) const;

private:
  std::map<std::string, tracked_user> users_;
  // Users with a query in flight → the change generation when it was sent; a change
  // seen meanwhile bumps generation_, and the answer then cannot make them up to date.
  std::map<std::string, std::uint64_t> in_flight_;
  std::map<std::string, std::uint64_t> changed_at_;
  std::uint64_t generation_ = 0;
};

/// Checks one device object of a /keys/query response as listed under `user_id` /
/// `device_id`; the device, or why not (HM_BAD_KEY, HM_BAD_SIGNATURE).
[[nodiscard]] result<device_identity> verify_device_keys(const nlohmann::json& device_keys,
                                                         const std::string& user_id,
                                                         const std::string& device_id);

/// POST /keys/claim for one signed_curve25519 key of each device.
[[nodiscard]] http_request keys_claim_request(const std::vector<device_identity>& devices);

/// The claimed keys by user and device ({"signed_curve25519:<id>": {...}} each, for
/// create_outbound_session); devices the server had no key for are simply absent.
using claimed_keys = std::map<std::string, std::map<std::string, nlohmann::json>>;
[[nodiscard]] result<claimed_keys> parse_keys_claim(const http_response& r);

/// The tracker's users as the store keeps them (JSON text), so that a restart still knows
/// every device's keys and refuses a device whose ed25519 key changed; and back
/// (unreadable text: nothing tracked, every list is queried again).
[[nodiscard]] std::string tracked_users_json(const std::map<std::string, tracked_user>& users);
[[nodiscard]] std::map<std::string, tracked_user> tracked_users_from_json(const std::string& text);

} // namespace hm::matrix::crypto
