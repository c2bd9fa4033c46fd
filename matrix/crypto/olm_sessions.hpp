#pragma once

// Olm: the 1:1 ratchets between this device and another, used for to-device messages
// (room keys, key requests, dummies). Outbound sessions start from a one-time key claimed
// through /keys/claim; inbound ones from a pre-key message. The caller stores sessions
// per sender curve25519 key (pickled) and hands them in as a vector; every function
// says which session changed so that only that one is pickled again.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/errors.hpp"

#include "matrix/crypto/olm_holder.hpp"

struct OlmSession;

namespace hm::matrix::crypto {

/// Another device as /keys/query told us (its self-signature already verified).
struct device_identity {
  std::string user_id;
  std::string device_id;
  std::string curve25519;
  std::string ed25519;
};

/// This device, as it names itself in what it encrypts.
struct own_device {
  std::string user_id;
  std::string device_id;
};

class olm_session {
public:
  /// Error HM_BAD_PICKLE_KEY (another key) or HM_BAD_PICKLE.
  [[nodiscard]] static result<olm_session> from_pickle(std::string_view pickle,
                                                       const pickle_key& key);
  [[nodiscard]] result<std::string> pickle(const pickle_key& key) const;
  /// The same on both ends of the session.
  [[nodiscard]] std::string id() const;
  /// Whether the other side has answered (until then we keep sending pre-key messages).
  [[nodiscard]] bool has_received_message() const noexcept;

  /// For the code in this library.
  [[nodiscard]] OlmSession* raw() const noexcept { return holder_.get(); }

private:
  friend struct olm_session_factory; // olm_sessions.cpp: the only place that makes empty ones
  olm_session();
  detail::olm_holder<OlmSession> holder_;
};

/// A new outbound session to `device` from what /keys/claim returned for it:
/// `claimed` is that device's map {"signed_curve25519:<id>": {key, signatures}} (the
/// first signed_curve25519 entry is used). The key's signature by the device's ed25519
/// key is checked first (HM_BAD_SIGNATURE); HM_BAD_KEY when there is no usable key.
[[nodiscard]] result<olm_session> create_outbound_session(const account& acc,
                                                          const device_identity& device,
                                                          const nlohmann::json& claimed);

/// The m.room.encrypted content (m.olm.v1.curve25519-aes-sha2) carrying an event of
/// `type` with `content` to `recipient` through `session` (which changes: pickle it).
/// The plaintext payload binds sender, recipient and both ed25519 keys (spec "Olm").
[[nodiscard]] result<nlohmann::json> encrypt_olm(olm_session& session, const account& acc,
                                                 const own_device& self,
                                                 const device_identity& recipient,
                                                 std::string_view type,
                                                 const nlohmann::json& content);

/// A decrypted to-device event.
struct olm_decrypted {
  std::string type;
  nlohmann::json content;
  std::string sender_key;     // curve25519 of the sending device (from the envelope)
  std::string sender_ed25519; // payload keys.ed25519: the caller compares it with the
                              // device it knows for sender_key, when it knows one
  std::optional<std::string> sender_device; // payload sender_device (optional in spec)
  std::size_t session_index = 0; // which of the sessions decrypted it: pickle that one
  bool new_session = false; // that session was created (appended) by this message; the
                            // account changed too (its one-time key is gone): pickle both
};

/// The sender curve25519 key of an m.room.encrypted Olm content, to look up the stored
/// sessions with before calling decrypt_olm. Nullopt when the content is not Olm.
[[nodiscard]] std::optional<std::string> olm_sender_key(const nlohmann::json& content);

/// Decrypts a to-device m.room.encrypted `content` that `sender` (the event's sender)
/// sent us. `sessions` are the stored sessions for the content's sender key. A pre-key
/// message (type 0) goes to the session it belongs to (olm_matches_inbound_session) or
/// starts a new inbound one, kept (appended) only when the message decrypts and its
/// payload checks out; a normal message (type 1) is tried on every session. The payload
/// must name `sender`, us as recipient with our ed25519 key, and carry keys.ed25519.
/// Errors: HM_UNDECRYPTABLE (not for us, no session fits, bad MAC), HM_BAD_PAYLOAD.
/// After an error nothing needs storing.
[[nodiscard]] result<olm_decrypted> decrypt_olm(account& acc,
                                                std::vector<olm_session>& sessions,
                                                const own_device& self,
                                                std::string_view sender,
                                                const nlohmann::json& content);

} // namespace hm::matrix::crypto
