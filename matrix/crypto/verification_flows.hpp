#pragma once

// The open SAS verifications of one device, sans I/O: which flow an incoming
// m.key.verification.* event belongs to, whether it starts a new one (a request or a
// start from an allowed user, recent enough, while fewer than a handful are open), is
// declined (a stranger) or ignored (an unknown flow, a stale request, too many open);
// the peer's device keys as /keys/query gives them; and each flow's sas_verification
// once those keys are known. The crypto actor performs the sends and the key query.

#include "matrix/crypto/sas.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm::matrix::crypto {

/// Whether `type` is one of the verification events this device takes part in
/// (m.key.verification.*), or an m.room.message whose msgtype is a verification request.
[[nodiscard]] bool is_verification_event(std::string_view type, const nlohmann::json& content);

/// One flow, as the registry keeps it.
struct verification_flow {
  std::string flow_id;
  std::string user_id;   ///< the peer
  std::string device_id; ///< the peer's device (from_device of its request or start)
  verification_transport transport = verification_transport::to_device;
  std::string room_id; ///< in-room only
  std::chrono::steady_clock::time_point began{};
  /// Events that came before the peer's keys were known, in order.
  std::vector<verification_event> waiting;
  /// Nullopt while the peer's keys are being fetched.
  std::optional<sas_verification> sas;
  /// Cancelled before a machine existed (no keys for the device); its code.
  std::string cancelled_early;

  /// Still open: waiting for keys, or a machine that is neither done nor cancelled.
  [[nodiscard]] bool open() const;
  /// "fetching_keys", then the machine's state.
  [[nodiscard]] std::string state() const;
};

/// What to do with one incoming verification event.
struct verification_intake {
  enum class action {
    ignore,     ///< not ours, unknown flow, stale, or too many open (`why` says which)
    decline,    ///< a stranger: send `reply` (cancel m.user); no flow is kept
    fetch_keys, ///< a new flow: query the peer's device keys, then begin()
    wait,       ///< the flow's keys are being fetched: the event waits with it
    deliver,    ///< hand the event to the flow's machine
  };
  action what = action::ignore;
  std::string flow_id;
  std::optional<verification_send> reply;
  std::string why; ///< for the log, never a key
  /// An ignored event that is an ordinary part of the protocol (their done or cancel
  /// after the flow ended): not worth the operator's attention.
  bool routine = false;
};

class verification_flows {
public:
  /// At most `max_open` flows open at a time: a hostile peer cannot make us hold more.
  explicit verification_flows(std::size_t max_open = 4, std::size_t max_closed = 8);

  /// Sorts one event in. `self_device` is ours (our own requests and starts echoed back
  /// are not a new flow), `sender_allowed` whether the sender may verify with us,
  /// `timestamp_ms` the request's time (content.timestamp to-device, origin_server_ts
  /// in-room). A new flow is registered (waiting for keys) when the answer is fetch_keys.
  [[nodiscard]] verification_intake receive(const verification_event& e,
                                            verification_transport transport,
                                            const std::string& room_id,
                                            const std::string& self_user,
                                            const std::string& self_device,
                                            bool sender_allowed,
                                            std::optional<std::int64_t> timestamp_ms,
                                            std::chrono::system_clock::time_point now,
                                            std::chrono::steady_clock::time_point mono);

  /// The peer's keys are here: the flow's machine is made and fed what waited; what to
  /// send. Nothing (and nothing changes) for an unknown flow.
  [[nodiscard]] result<std::vector<verification_send>>
  begin(const std::string& flow_id, sas_device self, sas_device peer);
  /// The peer's keys cannot be had: the flow is cancelled (m.user, "unknown device");
  /// the cancel to send.
  [[nodiscard]] std::optional<verification_send> keys_missing(const std::string& flow_id);

  /// The flow (nullptr when unknown).
  [[nodiscard]] verification_flow* find(const std::string& flow_id);
  [[nodiscard]] const std::map<std::string, verification_flow>& all() const noexcept {
    return flows_;
  }
  [[nodiscard]] std::size_t open_count() const;

  /// Forgets the oldest closed flows beyond the number kept for the operator to see.
  void prune();

private:
  std::size_t max_open_;
  std::size_t max_closed_;
  std::map<std::string, verification_flow> flows_;
  std::uint64_t sequence_ = 0;
  std::map<std::string, std::uint64_t> order_; ///< flow → when it was registered
};

/// POST /keys/query for `user_id`'s devices (and cross-signing keys).
[[nodiscard]] http_request peer_keys_query(const std::string& user_id);

/// Reads the answer to peer_keys_query(): `user_id`'s device `device_id` (its
/// self-signature checked), with the user's master key when published; `known_ed25519`
/// (from the device tracker) must match when given. HM_BAD_KEY / HM_BAD_SIGNATURE / a
/// response error, or "HM_NO_DEVICE" when the server lists no such device.
[[nodiscard]] result<sas_device> read_peer_keys(const http_response& answer,
                                                const std::string& user_id,
                                                const std::string& device_id,
                                                const std::optional<std::string>& known_ed25519);

} // namespace hm::matrix::crypto
