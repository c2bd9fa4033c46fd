#pragma once

// One device's E2EE machine, sans I/O, on the model of matrix-rust-sdk's OlmMachine: it
// owns the Olm account, the device tracker, the room registry, the key requests we made
// and the unwedging times, over a crypto_store. The caller hands it what /sync brought
// (receive_sync_changes: room keys are taken before anything else, so the room events of
// the same batch find them), asks it for the requests to perform (outgoing_requests) and
// hands back their answers (mark_request_as_sent / mark_request_as_failed). It decrypts
// room events (parking those whose key is missing) and drives the room send. It never
// performs I/O, logs or counts: it answers with notes for the caller's log and with the
// decisions the caller acts on (events to retry, verification events to route).
//
// Split by operation: olm_machine.cpp (the sync intake, decrypting, key requests,
// sending), olm_machine_requests.cpp (the outgoing requests and their answers).

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/crypto_store.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/crypto/receive.hpp"
#include "matrix/crypto/room_registry.hpp"
#include "matrix/crypto/room_send.hpp"
#include "matrix/crypto/unwedging.hpp"
#include "matrix/errors.hpp"
#include "matrix/events.hpp"
#include "matrix/request.hpp"
#include "matrix/sync.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hm::matrix::crypto {

/// A line for the caller's log (no key, no plaintext).
struct machine_note {
  enum class level { debug, info, warn, error };
  level what = level::info;
  std::string text;
};

/// What one sync batch's crypto part asks of the caller.
struct sync_decisions {
  /// Parked events whose Megolm key arrived with this batch: retry them.
  std::vector<std::string> retry;
  /// Megolm sessions whose keys arrived (for metrics, and the key backup).
  std::vector<std::string> new_sessions;
  /// m.key.verification.* to-device events, for the SAS verifications: those sent in
  /// clear first, then those decrypted from Olm, each in the order they came.
  std::vector<basic_event> verification_events;
  /// To-device events encrypted to us that could not be decrypted (for metrics).
  std::size_t undecryptable = 0;
  std::vector<machine_note> notes;
};

/// A request to perform; its answer goes to mark_request_as_sent (a 2xx) or
/// mark_request_as_failed (anything else) with the same id.
struct outgoing_request {
  enum class kind {
    own_device_check, ///< /keys/query of this device: does the server hold our keys?
    keys_upload,      ///< device keys, one-time keys, fallback key
    keys_query,       ///< device lists that changed
    unwedge_claim,    ///< a one-time key of a device whose Olm session broke
    unwedge_dummy,    ///< the m.dummy over the new Olm session
    key_request,      ///< m.room_key_request for a parked event's session
    key_cancel,       ///< its cancellation, once the key is here
  };
  std::uint64_t id = 0;
  kind what = kind::keys_upload;
  http_request request;
};

/// What the answer to a request asks of the caller.
struct answer_decisions {
  std::vector<machine_note> notes;
  /// The server holds this device's keys now, the first time in this life: senders can
  /// encrypt for us (the cell may sync; cross-signing may start).
  bool keys_published = false;
  /// The server holds other keys for this device: the profile must stop (the text says
  /// why and what to do).
  std::optional<std::string> device_mismatch;
  /// A request failed and will be offered again once retry_failed() is called: call it
  /// after a while.
  bool retry_later = false;
  /// A device-list query of the machine ended: a room send waiting for it may start.
  bool keys_query_ended = false;
};

/// An encrypted room event's outcome, already committed (the replay entry and the
/// unparking of a decrypted event; the parking of one whose key is missing).
struct event_decryption {
  /// decrypted: `event` holds the clear event (with the wrapper's relation).
  room_decryption decryption;
  std::vector<machine_note> notes;
};

class olm_machine {
public:
  /// The machine of `self`'s device with its loaded `olm_account`; the device lists are
  /// read from `store`. `store` and `key` must outlive the machine.
  olm_machine(crypto_store& store, const pickle_key& key, account olm_account,
              own_device self);

  // -- receiving ------------------------------------------------------------------

  /// Takes a sync batch's crypto part (`initial`: a fresh start with no cursor): room
  /// registry, device lists changed and left, to-device events (room keys, broken Olm
  /// sessions, verification events), one-time key counts and unused fallback key
  /// types. `now_ms`: Unix ms. An error (HM_STORE_FAILED) when a commit failed.
  [[nodiscard]] result<sync_decisions> receive_sync_changes(const sync_response& batch,
                                                            bool initial, std::int64_t now_ms);

  /// Decrypts an admitted m.room.encrypted event of `room_id` and commits its outcome.
  /// A missing key parks the event; ask for the key with request_room_key (after the
  /// key backup, when there is one). An error (HM_STORE_FAILED) when a commit failed.
  [[nodiscard]] result<event_decryption> decrypt_room_event(const std::string& room_id,
                                                            const room_event& ev);

  /// Asks our other devices and the sending device for the key of `ev`'s session
  /// (once per session in this life; the request id is stable, so a restart does not
  /// multiply requests): queues the request.
  void request_room_key(const std::string& room_id, const room_event& ev,
                        const room_decryption& decryption);

  /// The keys of `session_ids` are here (from elsewhere than to-device, the key
  /// backup): the requests for them are cancelled; answers the parked events to retry.
  [[nodiscard]] std::vector<std::string>
  room_keys_arrived(const std::vector<std::string>& session_ids);

  // -- requests ---------------------------------------------------------------------

  /// The requests to perform now, each handed out once: the check of this device's
  /// keys (first), the key upload the policy asks for (the new keys are committed
  /// before it is handed out), queued to-device requests and claims, and a /keys/query
  /// for device lists that changed (not while a room send is under way: it queries
  /// itself). A failed one is offered again after retry_failed(). An error
  /// (HM_STORE_FAILED, or libolm's) when new keys cannot be made or committed.
  [[nodiscard]] result<std::vector<outgoing_request>> outgoing_requests(std::int64_t now_ms);
  /// The 2xx answer to request `id`. An error (HM_STORE_FAILED) when a commit failed.
  [[nodiscard]] result<answer_decisions> mark_request_as_sent(std::uint64_t id,
                                                              const http_response& answer);
  /// Request `id` failed with `error`.
  [[nodiscard]] answer_decisions mark_request_as_failed(std::uint64_t id,
                                                        const matrix_error& error);
  /// Failed requests may be offered again.
  void retry_failed();
  /// A device-list query of the machine is under way (a room send would find those
  /// lists in flight: start it once the query ended).
  [[nodiscard]] bool keys_query_in_flight() const;

  // -- sending ----------------------------------------------------------------------

  /// Starts encrypting an event of `event_type` with `content` for `room_id`, whose
  /// joined members are `members` (one send at a time): the room_send's first step.
  [[nodiscard]] room_send::step start_send(const std::string& room_id,
                                           const std::string& event_type,
                                           const nlohmann::json& content,
                                           std::vector<std::string> members,
                                           std::int64_t now_ms);
  /// The send's next step, given the answer to its last perform. The send ends with an
  /// `encrypted` or `failure` step.
  [[nodiscard]] room_send::step send_answer(const result<http_response>& answer,
                                            std::int64_t now_ms);
  /// The send's log lines since the last call.
  [[nodiscard]] std::vector<send_note> take_send_notes();

  // -- what the rest of the device works with ----------------------------------------

  [[nodiscard]] account& olm_account() noexcept { return account_; }
  [[nodiscard]] const device_tracker& tracker() const noexcept { return tracker_; }
  [[nodiscard]] room_registry& rooms() noexcept { return rooms_; }
  /// signed_curve25519 one-time keys the server holds, as last told (sync or upload).
  [[nodiscard]] std::optional<std::int64_t> server_one_time_keys() const noexcept {
    return server_one_time_keys_;
  }
  /// Whose device `curve25519` is, as far as the device lists know (nullopt: unknown).
  [[nodiscard]] std::optional<std::string> device_owner(const std::string& curve25519) const;
  /// Whether `curve25519` is another device of our own user whose keys we checked.
  [[nodiscard]] bool own_verified_device(const std::string& curve25519) const;

private:
  /// What an outgoing request was for, until its answer comes.
  struct pending {
    outgoing_request::kind what;
    std::vector<std::string> queried; ///< keys_query: the users asked about
    device_identity device;           ///< unwedge_*: the device
    std::string session_id;           ///< key_request, key_cancel
  };

  void queue(outgoing_request::kind what, http_request request, pending p);
  void replace_broken_session(const std::string& user_id, const std::string& curve25519,
                              std::int64_t now_ms, std::vector<machine_note>& notes);
  void cancel_key_request(const std::string& session_id);
  result<void> commit_account();
  result<void> save_tracker();
  result<answer_decisions> own_device_checked(const http_response& answer);
  result<answer_decisions> keys_uploaded(const http_response& answer);
  result<answer_decisions> keys_queried(const pending& p, const http_response& answer);
  result<answer_decisions> claimed(const pending& p, const http_response& answer);
  bool note_keys_on_server();
  room_send_context send_context();

  crypto_store& store_;
  const pickle_key& key_;
  account account_;
  own_device self_;
  device_tracker tracker_;
  room_registry rooms_;

  /// /keys/query has told us what the server holds for this device.
  bool identity_checked_ = false;
  /// The server holds this device's keys (they are ours: checked, or uploaded by us).
  bool device_keys_on_server_ = false;
  std::optional<std::int64_t> server_one_time_keys_;
  std::optional<std::vector<std::string>> unused_fallback_key_types_;

  /// Failed requests of these kinds wait for retry_failed().
  bool own_device_check_held_ = false;
  bool upload_held_ = false;
  bool query_held_ = false;

  /// Handed out, not yet answered, by id.
  std::map<std::uint64_t, pending> in_flight_;
  /// Made by an operation, not yet handed out.
  std::vector<std::pair<outgoing_request, pending>> queued_;
  std::uint64_t next_id_ = 1;

  /// Megolm sessions we asked other devices for in this life → who was asked (the
  /// sender, and its device when known), to cancel the request once the key is here.
  std::map<std::string, std::pair<std::string, std::optional<std::string>>> requested_;
  /// When broken Olm sessions were last replaced, by device (from the store on first use).
  std::optional<unwedging> unwedging_;

  std::optional<room_send> sending_;
  std::vector<send_note> send_notes_;
};

} // namespace hm::matrix::crypto
