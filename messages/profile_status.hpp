#pragma once

// A profile's state on its node, as `status`, `/v1/status` and the metrics show it.
// Plain values with an `inspect` that needs no CAF header, so that the cluster's
// decisions (cluster/) read them without CAF; their type IDs are in type_ids.hpp.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hm {

/// Where a profile is in its life on this node, as the supervisor sees it.
enum class profile_state : uint8_t {
  starting, ///< cell spawned, not yet serving
  running,  ///< cell reported ready and serves the profile
  backoff,  ///< cell crashed; waiting before the next restart
  stopped,  ///< stopped for a reason a restart cannot fix (e.g. revoked token)
  failed,   ///< crashed immediately too many times in a row; given up
  invalid,  ///< the profile's configuration has errors; never started
  waiting,  ///< cluster: no node may serve it now (its node is lost, or not joined yet)
};

[[nodiscard]] inline const char* to_string(profile_state s) {
  switch (s) {
    case profile_state::starting: return "starting";
    case profile_state::running: return "running";
    case profile_state::backoff: return "backoff";
    case profile_state::stopped: return "stopped";
    case profile_state::failed: return "failed";
    case profile_state::invalid: return "invalid";
    case profile_state::waiting: return "waiting";
  }
  return "unknown";
}

/// A profile cell has started and serves its profile as this Matrix user and device.
struct cell_ready {
  std::string profile;
  std::string user_id;
  std::string device_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cell_ready& x) {
  return f(x.profile, x.user_id, x.device_id);
}

/// One SAS verification of a profile's device as the operator sees it: who, which
/// device, where, how far, and (once both keys are known) the emoji and numbers to
/// compare. Public values only: no key, no MAC.
struct verification_view {
  std::string flow_id;
  std::string user_id;
  std::string device_id;
  std::string transport; ///< "to_device" or "in_room"
  std::string room_id;   ///< in-room only
  std::string state;     ///< fetching_keys, ready_sent, accepted, keys_exchanged, ...
  std::vector<std::string> emoji_symbols; ///< seven, once the SAS is known
  std::vector<std::string> emoji_names;   ///< their names, in the same order
  std::vector<int32_t> decimals;          ///< three, once the SAS is known
  std::string cancel_code;                ///< once cancelled
  std::string cancel_reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verification_view& x) {
  return f(x.flow_id, x.user_id, x.device_id, x.transport, x.room_id, x.state, x.emoji_symbols,
           x.emoji_names, x.decimals, x.cancel_code, x.cancel_reason);
}

/// The operator's word on a verification (POST /v1/profiles/{name}/verifications/{flow}):
/// "confirm" (the emoji match), "reject" (they do not), "cancel" (give up, m.user) or
/// "timeout" (nobody answered in time, m.timeout).
struct verification_action {
  std::string flow_id;
  std::string action;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verification_action& x) {
  return f(x.flow_id, x.action);
}

/// What `status`, `/v1/status` and the metrics show for one profile.
/// Never carries a secret: only names, ids and user-facing error text.
struct profile_status {
  std::string profile;
  profile_state state = profile_state::starting;
  std::string user_id;    ///< the bot's MXID once known
  std::string device_id;  ///< the bot's device once known
  uint32_t restarts = 0;  ///< restarts since the node started
  std::chrono::nanoseconds next_restart_in{0}; ///< in backoff: time until the next attempt
  std::string last_error; ///< the last reason the cell stopped, user-facing
  std::chrono::sys_time<std::chrono::nanoseconds> since;   ///< when `state` last changed
  // What the cell itself knows, gathered by the supervisor's status query:
  bool synced = false;         ///< the running cell has committed a /sync batch in this life
  std::chrono::sys_time<std::chrono::nanoseconds> last_sync{};  ///< when a /sync batch was last committed (epoch: never)
  uint64_t outbox_queue = 0;   ///< sends persisted but not yet acknowledged by the homeserver
  std::string node;       ///< cluster: the node serving it (or last serving it)
  std::vector<verification_view> verifications; ///< SAS verifications open or just ended
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_status& x) {
  return f(x.profile, x.state, x.user_id,
           x.device_id, x.restarts, x.next_restart_in, x.last_error, x.since, x.synced,
           x.last_sync, x.outbox_queue, x.node, x.verifications);
}

} // namespace hm
