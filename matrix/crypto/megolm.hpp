#pragma once

// Megolm: the room ratchets. Inbound group sessions come from m.room_key (only ever over
// Olm: the functions here take the decrypted Olm event, so a room key that arrived any
// other way cannot even be handed in) or m.forwarded_room_key; they decrypt
// m.megolm.v1.aes-sha2 room events with replay protection. The outbound session of a
// room encrypts what we send, says what m.room_key to share, and when to rotate.
//
// Persistence is the caller's: pickles (libolm state) plus the metadata in the
// *_info structs, and the replay log (session id, message index) → (event id, ts).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/errors.hpp"
#include "matrix/events.hpp"

#include "matrix/crypto/olm_holder.hpp"

struct OlmInboundGroupSession;
struct OlmOutboundGroupSession;

namespace hm::matrix::crypto {

// ---- room keys -------------------------------------------------------------------------

/// m.room_key content (algorithm m.megolm.v1.aes-sha2).
struct room_key {
  std::string room_id;
  std::string session_id;
  std::string session_key; // a secret
};
/// HM_BAD_KEY unless the content is a Megolm room key with all three strings.
[[nodiscard]] result<room_key> parse_room_key(const nlohmann::json& content);

/// m.forwarded_room_key content.
struct forwarded_room_key : room_key {
  std::string sender_key;                 // the curve25519 key of the session's creator
  std::string sender_claimed_ed25519_key; // the creator's ed25519 key, as claimed
  std::vector<std::string> forwarding_curve25519_key_chain;
};
[[nodiscard]] result<forwarded_room_key> parse_forwarded_room_key(const nlohmann::json& content);

// ---- inbound ---------------------------------------------------------------------------

/// What is stored next to an inbound session's pickle.
struct inbound_group_session_info {
  std::string room_id;
  std::string session_id;
  std::string sender_key;     // curve25519 of the device that created the session
  std::string sender_ed25519; // its ed25519 key (as claimed in the Olm payload)
  /// Empty for a key from its creator; for a forwarded key, every device it passed
  /// through (curve25519), the last being the one that forwarded it to us. A forwarded
  /// key is only as trustworthy as that chain.
  std::vector<std::string> forwarding_chain;
};

class inbound_group_session {
public:
  /// From an m.room_key that reached us over Olm (`olm_event.type` must be m.room_key):
  /// the creator is the Olm sender. HM_BAD_KEY when the content is malformed or its
  /// session_id is not the key's.
  [[nodiscard]] static result<inbound_group_session> from_room_key(const olm_decrypted& olm_event);
  /// From an m.forwarded_room_key that reached us over Olm. Whether to accept forwarded
  /// keys from this sender at all (we asked for it; it is our own verified device) is
  /// the caller's decision, made before calling this.
  [[nodiscard]] static result<inbound_group_session>
  from_forwarded_room_key(const olm_decrypted& olm_event);
  /// From a session in libolm's export format whose metadata (creator keys, forwarding
  /// chain) the caller vouches for: a restored key backup. HM_BAD_KEY when the key is
  /// unusable or is not the key of `key.session_id`.
  [[nodiscard]] static result<inbound_group_session> from_export(const room_key& key,
                                                                 inbound_group_session_info info);
  /// Error HM_BAD_PICKLE_KEY, HM_BAD_PICKLE.
  [[nodiscard]] static result<inbound_group_session>
  from_pickle(std::string_view pickle, const pickle_key& key, inbound_group_session_info info);

  [[nodiscard]] result<std::string> pickle(const pickle_key& key) const;
  [[nodiscard]] const inbound_group_session_info& info() const noexcept { return info_; }
  /// The first message index this session can decrypt (0 for a key from its creator
  /// at creation; more for a key shared late or forwarded).
  [[nodiscard]] std::uint32_t first_known_index() const noexcept;
  /// The session exported at `index` (for forwarding or backup): a secret.
  [[nodiscard]] result<std::string> export_at(std::uint32_t index) const;

  [[nodiscard]] OlmInboundGroupSession* raw() const noexcept { return holder_.get(); }

private:
  friend struct group_session_factory;
  inbound_group_session();
  detail::olm_holder<OlmInboundGroupSession> holder_;
  inbound_group_session_info info_;
};

/// The Megolm session id of an m.room.encrypted room event content, to look up the
/// stored inbound session with; nullopt when not Megolm.
[[nodiscard]] std::optional<std::string> megolm_session_id(const nlohmann::json& content);

/// The replay log entry of one message index.
struct seen_message {
  std::string event_id;
  std::int64_t origin_server_ts = 0;
};
/// The caller's replay log lookup for the session at hand: what was decrypted at
/// `message_index` before, if anything.
using seen_lookup = std::function<std::optional<seen_message>(std::uint32_t message_index)>;

struct megolm_decrypted {
  std::string type;
  nlohmann::json content; // with the clear m.relates_to put back when the payload lacks it
  std::uint32_t message_index = 0;
  /// True when this index was not seen before: record (session id, index) → (event id,
  /// ts) in the replay log, in the same transaction as whatever the event causes.
  bool first_decryption = false;
};

/// Decrypts the content of m.room.encrypted room event `event_id` (sent at
/// `origin_server_ts`) in `room_id` with `session`. Refuses: a content for another
/// session (HM_UNDECRYPTABLE); an index before the session's first known index
/// (HM_UNKNOWN_MESSAGE_INDEX: ask for the key); a bad MAC (HM_UNDECRYPTABLE); a payload
/// whose room_id is not `room_id` or that lacks type/content (HM_BAD_PAYLOAD); a message
/// index already seen with another event id or timestamp (HM_REPLAY).
/// The caller also checks that the event's sender owns info().sender_key.
[[nodiscard]] result<megolm_decrypted> decrypt_megolm(const inbound_group_session& session,
                                                      std::string_view room_id,
                                                      std::string_view event_id,
                                                      std::int64_t origin_server_ts,
                                                      const nlohmann::json& content,
                                                      const seen_lookup& seen);

// ---- outbound --------------------------------------------------------------------------

/// When an outbound session must be replaced (m.room.encryption's rotation_period_*).
struct rotation_policy {
  std::int64_t period_ms = 7LL * 24 * 60 * 60 * 1000; // one week (spec default)
  std::int64_t period_msgs = 100;                     // spec default
  /// The room's policy; absent or non-positive values keep the defaults.
  [[nodiscard]] static rotation_policy from(const encryption_content& c);
};

class outbound_group_session {
public:
  /// A new session for `room_id`, created at `now_ms` (caller's clock, Unix ms).
  [[nodiscard]] static result<outbound_group_session> create(std::string room_id,
                                                             std::int64_t now_ms);
  [[nodiscard]] static result<outbound_group_session>
  from_pickle(std::string_view pickle, const pickle_key& key, std::string room_id,
              std::int64_t created_at_ms);

  [[nodiscard]] result<std::string> pickle(const pickle_key& key) const;
  [[nodiscard]] const std::string& room_id() const noexcept { return room_id_; }
  [[nodiscard]] std::int64_t created_at_ms() const noexcept { return created_at_ms_; }
  [[nodiscard]] std::string id() const;
  /// The index of the next message = how many messages it has encrypted.
  [[nodiscard]] std::uint32_t message_index() const noexcept;

  /// The m.room_key content to send (over Olm) to every device that may read what
  /// follows: {algorithm, room_id, session_id, session_key}. Holds a secret.
  [[nodiscard]] result<nlohmann::json> room_key_content() const;

  /// The m.room.encrypted content for an event of `type` with `content` (the session
  /// changes: pickle it before sending). m.relates_to stays in clear: it moves out of the
  /// encrypted content into the m.room.encrypted content, as the spec requires, so the
  /// server can aggregate relations.
  [[nodiscard]] result<nlohmann::json> encrypt(std::string_view type, nlohmann::json content,
                                               const account& acc,
                                               std::string_view own_device_id);

  [[nodiscard]] OlmOutboundGroupSession* raw() const noexcept { return holder_.get(); }

private:
  outbound_group_session();
  detail::olm_holder<OlmOutboundGroupSession> holder_;
  std::string room_id_;
  std::int64_t created_at_ms_ = 0;
};

/// Whether `s` has to be replaced before the next message: it has sent period_msgs
/// messages, or period_ms has passed since it was created. (Membership changes, a
/// member leaving or a device disappearing, also force rotation: that is the caller's.)
[[nodiscard]] bool needs_rotation(const outbound_group_session& s, const rotation_policy& p,
                                  std::int64_t now_ms);

/// Our own inbound session for our outbound one, so that we can read what we sent
/// (our other devices get it as an m.room_key).
[[nodiscard]] result<inbound_group_session>
inbound_from_own_outbound(const outbound_group_session& s, const account& acc);

} // namespace hm::matrix::crypto
