#pragma once

// Interactive device verification by short authentication string (spec "Short
// Authentication String (SAS) verification", method m.sas.v1), with the bot as the
// responder: the person starts it from Element or another client, the bot answers, shows
// the operator seven emoji (or three numbers), and once the operator confirms they match
// and the other side's MACs check out, the other device's keys (and its user's master
// key, when it MACs it) are verified.
//
// Sans-I/O: events in (parsed content, either transport), events to send out; the
// caller performs the sends (to-device to the peer's device, or into the room) and asks
// the machine about the decisions. Nothing here throws on hostile input: anything
// malformed or out of order becomes a cancel event with the spec's code.
//
// What we offer is what matrix-nio and the Rust SDK both do: key agreement
// curve25519-hkdf-sha256 only (plain "curve25519" is the deprecated, weaker one), hash
// sha256, MAC hkdf-hmac-sha256.v2 preferred, hkdf-hmac-sha256 (libolm's historically
// mis-encoded base64, still all nio speaks) when that is all the other side offers.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/olm_holder.hpp"
#include "matrix/errors.hpp"

struct OlmSAS;

namespace hm::matrix::crypto {

/// How the verification travels: to-device events with a `transaction_id`, or room
/// events related (m.reference) to the request message, whose event id is the flow id.
enum class verification_transport { to_device, in_room };

/// One incoming event as the caller got it. For an in-room request, `type` is
/// "m.room.message" (content.msgtype "m.key.verification.request") and `event_id` is its
/// id; the other in-room events carry their flow in content["m.relates_to"].
struct verification_event {
  std::string type;
  std::string sender;
  nlohmann::json content;
  std::string event_id; ///< in-room only; the request's event id is the flow id
};

/// One event to send: to-device to the peer's device, or in-room as a room event.
struct verification_send {
  std::string type;
  nlohmann::json content; ///< carries transaction_id or m.relates_to already
};

/// A device as the verification sees it: whose, which, its ed25519 key (unpadded
/// base64); the user's master cross-signing key, when known and wanted in the MACs.
struct sas_device {
  std::string user_id;
  std::string device_id;
  std::string ed25519;
  std::optional<std::string> master_key;
};

/// One emoji of the SAS: the character(s) and the spec's English name.
struct sas_emoji {
  std::string_view symbol;
  std::string_view name;
};

/// The spec's 64 emoji, indexed by the 6-bit numbers of the SAS.
[[nodiscard]] const std::array<sas_emoji, 64>& sas_emoji_table();

// The spec's cancel codes this machine sends or reads.
inline constexpr std::string_view cancel_user = "m.user";
inline constexpr std::string_view cancel_timeout = "m.timeout";
inline constexpr std::string_view cancel_unknown_method = "m.unknown_method";
inline constexpr std::string_view cancel_unexpected_message = "m.unexpected_message";
inline constexpr std::string_view cancel_key_mismatch = "m.key_mismatch";
inline constexpr std::string_view cancel_mismatched_commitment = "m.mismatched_commitment";
inline constexpr std::string_view cancel_mismatched_sas = "m.mismatched_sas";
inline constexpr std::string_view cancel_invalid_message = "m.invalid_message";

/// How long a verification may take from its first event (the spec's 10 minutes).
inline constexpr std::chrono::minutes sas_timeout{10};

enum class sas_state {
  created,        ///< nothing received yet
  ready_sent,     ///< request answered with ready; waiting for start
  accepted,       ///< start answered with accept; waiting for their key
  keys_exchanged, ///< both keys known: emoji()/decimals() ready for the operator
  confirmed,      ///< operator confirmed, our MAC sent; waiting for theirs
  their_mac_ok,   ///< their MAC checked out; waiting for the operator
  done,           ///< both sides confirmed and MACs checked: verified
  cancelled,      ///< by us or by them; see cancel_code()
};

[[nodiscard]] std::string_view to_string(sas_state s);

/// The flow an incoming event belongs to: its transaction_id (to-device), the request's
/// own event id or m.relates_to.event_id of an m.reference (in-room). Nullopt when it has
/// none, so the caller can route events to the right machine (or make a new one).
[[nodiscard]] std::optional<std::string> verification_flow_id(const verification_event& e,
                                                              verification_transport t);

/// Whether a request is recent enough to answer: the spec has clients ignore requests
/// stamped more than 10 minutes in the past or 5 minutes in the future. `timestamp_ms`
/// is content.timestamp (to-device) or the event's origin_server_ts (in-room); a missing
/// one is not timely.
[[nodiscard]] bool verification_request_timely(std::optional<std::int64_t> timestamp_ms,
                                               std::chrono::system_clock::time_point now);

/// The cancel declining a flow the caller will not take part in (a request from a user
/// who is not allowed; code m.user unless told otherwise).
[[nodiscard]] verification_send decline(verification_transport t, std::string_view flow_id,
                                        std::string_view code = cancel_user,
                                        std::string_view reason = "Verification declined");

class sas_verification {
public:
  /// A machine for one flow with the device `peer` (its keys from the device tracker),
  /// `self` being this device (and our master key, to MAC it too, when we have one).
  /// `now` starts the timeout. Error HM_NO_RANDOMNESS, HM_OLM.
  [[nodiscard]] static result<sas_verification>
  create(sas_device self, sas_device peer, verification_transport transport,
         std::string flow_id, std::chrono::steady_clock::time_point now);
  /// The same with the SAS key pair made from exactly `random32` (libolm's 32 random
  /// bytes). For known-answer tests only.
  [[nodiscard]] static result<sas_verification>
  create_from_random_for_tests(sas_device self, sas_device peer,
                               verification_transport transport, std::string flow_id,
                               std::string_view random32);

  /// Takes one event of this flow; returns what to send (possibly nothing). Events from
  /// another sender or of another flow are not ours and are ignored.
  [[nodiscard]] std::vector<verification_send> receive(const verification_event& e);

  /// The seven emoji, once both keys are known (and the other side offered emoji);
  /// nullopt again once cancelled, so nobody confirms a dead flow.
  [[nodiscard]] std::optional<std::array<sas_emoji, 7>> emoji() const;
  /// The three numbers (1000..9191), once both keys are known.
  [[nodiscard]] std::optional<std::array<int, 3>> decimals() const;

  /// The operator says the SAS match: our MAC goes out (and done, when theirs already
  /// checked out in a request-started flow). Nothing when not waiting for the operator.
  [[nodiscard]] std::vector<verification_send> confirm();
  /// The operator says they do not match: cancel m.mismatched_sas.
  [[nodiscard]] std::vector<verification_send> reject();
  /// The operator (or the service going away) gives up: cancel m.user.
  [[nodiscard]] std::vector<verification_send> cancel();
  /// Cancel m.timeout when `now` is sas_timeout or more after create() and the flow
  /// is still open; nothing otherwise.
  [[nodiscard]] std::vector<verification_send> check_timeout(std::chrono::steady_clock::time_point now);

  [[nodiscard]] sas_state state() const noexcept { return state_; }
  [[nodiscard]] bool verified() const noexcept { return state_ == sas_state::done; }
  /// The peer as verified (device key; master key only when it MACed it and it matched
  /// the one given in). Nullopt until verified().
  [[nodiscard]] std::optional<sas_device> verified_device() const;
  /// The cancel code and reason (ours or theirs) once cancelled. Theirs are cut to 200
  /// bytes (at a character boundary) and stripped of control characters: they are for
  /// the log.
  [[nodiscard]] const std::string& cancel_code() const noexcept { return cancel_code_; }
  [[nodiscard]] const std::string& cancel_reason() const noexcept { return cancel_reason_; }
  [[nodiscard]] bool cancelled_by_them() const noexcept { return cancelled_by_them_; }

  [[nodiscard]] const std::string& flow_id() const noexcept { return flow_id_; }
  /// Our SAS public key (unpadded base64); for tests and logs, it is public.
  [[nodiscard]] const std::string& public_key() const noexcept { return our_key_; }
  /// The MAC method chosen at accept ("hkdf-hmac-sha256.v2" or "hkdf-hmac-sha256").
  [[nodiscard]] const std::string& mac_method() const noexcept { return mac_method_; }

private:
  sas_verification(sas_device self, sas_device peer, verification_transport transport,
                   std::string flow_id);
  result<empty_response> init(std::string_view random32);

  std::vector<verification_send> on_request(const nlohmann::json& c);
  std::vector<verification_send> on_start(const nlohmann::json& c);
  std::vector<verification_send> on_key(const nlohmann::json& c);
  std::vector<verification_send> on_mac(const nlohmann::json& c);
  std::vector<verification_send> on_done();
  std::vector<verification_send> our_mac();
  std::vector<verification_send> fail(std::string_view code, std::string_view reason);
  verification_send make(std::string_view type, nlohmann::json content) const;
  /// The first `n` (at most 8) SAS bytes as one big-endian number.
  std::optional<std::uint64_t> sas_bits(std::size_t n) const;
  std::optional<std::string> mac(std::string_view input, std::string_view info) const;

  detail::olm_holder<OlmSAS> holder_;
  sas_device self_;
  sas_device peer_;
  verification_transport transport_;
  std::string flow_id_;
  std::chrono::steady_clock::time_point started_{};
  sas_state state_ = sas_state::created;
  bool requested_ = false; ///< began with a request: done events are part of it
  std::string our_key_;
  std::string their_key_;
  std::string commitment_;
  std::string mac_method_;
  bool emoji_offered_ = false;
  bool master_verified_ = false;
  std::string cancel_code_;
  std::string cancel_reason_;
  bool cancelled_by_them_ = false;
};

} // namespace hm::matrix::crypto
