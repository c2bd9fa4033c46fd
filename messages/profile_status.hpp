#pragma once

// A profile's state on its node, as `status`, `/v1/status` and the metrics show it.
// Plain values with an `inspect` that needs no CAF header, so that the cluster's
// decisions (cluster/) read them without CAF; their type IDs are in type_ids.hpp.

#include <chrono>
#include <cstdint>
#include <string>

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_status& x) {
  return f(x.profile, x.state, x.user_id,
           x.device_id, x.restarts, x.next_restart_in, x.last_error, x.since, x.synced,
           x.last_sync, x.outbox_queue, x.node);
}

} // namespace hm
