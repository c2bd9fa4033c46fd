#pragma once

// POST /keys/upload: when to upload what. The policy is arithmetic over what /sync
// reports (device_one_time_keys_count, device_unused_fallback_key_types); the request
// carries this device's keys, the new one-time keys and, when the server has used ours
// up, a new fallback key.
//
// Order, so that a crash anywhere loses nothing:
//   1. prepare_keys_upload() generates keys (the account changed: pickle and store it);
//   2. the caller sends the request; on 2xx parse_keys_upload();
//   3. account.mark_keys_as_published(), pickle and store again.
// A crash between 1 and 3 re-uploads the same unpublished keys, which the server accepts.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/account.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

namespace hm::matrix::crypto {

/// How many one-time keys to generate so that the server holds about half of what
/// libolm can keep: target = max_keys / 2, minus what the server has and what is
/// generated but not yet uploaded. Never negative; a negative server count counts as 0.
[[nodiscard]] std::size_t one_time_keys_to_generate(std::int64_t server_count,
                                                    std::size_t unpublished,
                                                    std::size_t max_keys);

/// Whether to upload a new fallback key. Absent list: the server does not support
/// fallback keys (uploading one every sync would be pointless churn), so no. Present
/// and lacking signed_curve25519: ours was used, yes.
[[nodiscard]] bool fallback_key_needed(
    const std::optional<std::vector<std::string>>& unused_fallback_key_types);

/// What the caller knows when deciding on an upload.
struct keys_upload_state {
  /// This device's keys are not on the server yet (new account or new device).
  bool upload_device_keys = false;
  /// device_one_time_keys_count.signed_curve25519 from the latest sync or upload; nullopt
  /// when not known yet (no one-time keys are generated then; a new account may pass 0,
  /// since the server cannot hold keys it never saw).
  std::optional<std::int64_t> server_one_time_keys;
  /// device_unused_fallback_key_types from the latest sync.
  std::optional<std::vector<std::string>> unused_fallback_key_types;
};

/// The /keys/upload request to send now, or nullopt when nothing needs uploading.
/// Generates one-time keys and a fallback key as the policy says: the account changes
/// whenever the result holds a request (pickle it before sending).
[[nodiscard]] result<std::optional<http_request>>
prepare_keys_upload(account& acc, std::string_view user_id, std::string_view device_id,
                    const keys_upload_state& state);

/// POST /_matrix/client/v3/keys/upload with `body` ({device_keys?, one_time_keys?,
/// fallback_keys?}).
[[nodiscard]] http_request keys_upload_request(nlohmann::json body);

/// The one_time_key_counts of a /keys/upload response (algorithm → count; entries that
/// are not integers are skipped; a missing object is an empty map).
[[nodiscard]] result<std::map<std::string, std::int64_t>>
parse_keys_upload(const http_response& r);

} // namespace hm::matrix::crypto
