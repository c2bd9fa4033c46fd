#pragma once

// Encrypting one event for a room, sans I/O: the room's outbound Megolm session is
// shared over Olm with every device of every joined member before anything is
// encrypted with it. The caller performs the requests this asks for (device-list
// queries, one-time key claims, the to-device share) and hands back their answers;
// the machine reads and commits the crypto store itself, each step's changes in one
// transaction and before the request that depends on them leaves. The crypto actor
// drives it with the profile's SQLite store; unit tests with an in-memory store and
// libolm peers.

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/crypto_store.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/crypto/room_key_sharing.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hm::matrix::crypto {

/// What a room send works with; owned by the caller, alive across the whole send.
struct room_send_context {
  crypto_store& store;
  const pickle_key& key;
  account& olm_account;
  device_tracker& tracker;
  own_device self;
};

/// A line for the caller's log (no key, no plaintext).
struct send_note {
  bool warning = false;
  std::string text;
};

class room_send {
public:
  /// Perform `request` and hand its answer to answer().
  struct perform {
    http_request request;
  };
  /// Done: send `content` as m.room.encrypted. `keys_sent` devices got the room key.
  /// `new_session`: this send created the room's session (its inbound copy is stored,
  /// so there is a new room key to back up; otherwise there is none).
  struct encrypted {
    nlohmann::json content;
    std::size_t keys_sent = 0;
    bool new_session = false;
  };
  /// Not sent. `homeserver`: a request was refused (`error` says how; the caller
  /// decides whether that stops the profile); `stale_devices`: the device lists cannot
  /// be brought up to date; `store`: a commit failed; `internal`: libolm refused.
  struct failure {
    enum class kind { homeserver, stale_devices, store, internal };
    kind what = kind::internal;
    std::string text;
    std::optional<matrix_error> error;
  };
  using step = std::variant<perform, encrypted, failure>;

  /// An event of `event_type` with `content` for `room_id`, whose joined members are
  /// `members`; `policy` says when the room's session must be replaced.
  room_send(std::string room_id, std::string event_type, nlohmann::json content,
            std::vector<std::string> members, rotation_policy policy);

  /// The first step (the room's stored session is loaded). `now_ms`: Unix ms.
  [[nodiscard]] step start(room_send_context& ctx, std::int64_t now_ms);
  /// The next step, given the answer to the last perform.
  [[nodiscard]] step answer(room_send_context& ctx, const result<http_response>& answer,
                            std::int64_t now_ms);

  /// The log lines since the last call.
  [[nodiscard]] std::vector<send_note> take_notes();

  /// How many rounds of device-list queries a send waits for before it gives up (a
  /// list that changes all the time; the outbox retries the send later).
  static constexpr int max_query_rounds = 4;

private:
  enum class phase { idle, querying, claiming, sharing };

  step plan(room_send_context& ctx, std::int64_t now_ms);
  step deliver(room_send_context& ctx, bool claimed);
  step encrypt(room_send_context& ctx);
  step claimed(room_send_context& ctx, const http_response& r);
  std::optional<failure> commit(room_send_context& ctx, const crypto_changes& changes);
  outbound_group_row session_row(const pickle_key& key, const shared_set& shared,
                                 std::optional<failure>& error) const;
  /// The inbound copy of a session we created, keyed to our own device.
  std::optional<failure> own_inbound_copy(room_send_context& ctx, crypto_changes& changes) const;
  void note(bool warning, std::string text);

  std::string room_id_;
  std::string event_type_;
  nlohmann::json content_;
  std::vector<std::string> members_;
  rotation_policy policy_;

  phase phase_ = phase::idle;
  std::optional<outbound_group_session> session_;
  /// session_ was created by this send: its inbound copy (ours to decrypt with, and to
  /// back up) is stored together with it.
  bool fresh_session_ = false;
  /// This send created a session (stays true once its inbound copy is stored).
  bool created_session_ = false;
  shared_set shared_; ///< devices that have the session's key
  int query_rounds_ = 0;
  std::vector<std::string> queried_;      ///< querying: the users asked about
  std::vector<device_identity> targets_;  ///< claiming, sharing: who needs the key
  std::vector<device_identity> missing_;  ///< claiming: targets without an Olm session
  shared_set shared_after_;               ///< sharing: shared_ once the share is taken
  std::size_t sharing_with_ = 0;          ///< sharing: devices in the request
  std::size_t keys_sent_ = 0;
  std::vector<send_note> notes_;
};

} // namespace hm::matrix::crypto
