#pragma once

#include <caf/meta/type_name.hpp>
#include <caf/timestamp.hpp>

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

[[nodiscard]] const char* to_string(profile_state s);

/// What `status`, `/v1/status` and the metrics show for one profile.
/// Never carries a secret: only names, ids and user-facing error text.
struct profile_status {
  std::string profile;
  profile_state state = profile_state::starting;
  std::string user_id;    ///< the bot's MXID once known
  std::string device_id;  ///< the bot's device once known
  uint32_t restarts = 0;  ///< restarts since the node started
  caf::timespan next_restart_in{0}; ///< in backoff: time until the next attempt
  std::string last_error; ///< the last reason the cell stopped, user-facing
  caf::timestamp since;   ///< when `state` last changed
  // What the cell itself knows, gathered by the supervisor's status query:
  bool synced = false;         ///< the running cell has committed a /sync batch in this life
  caf::timestamp last_sync{};  ///< when a /sync batch was last committed (epoch: never)
  uint64_t outbox_queue = 0;   ///< sends persisted but not yet acknowledged by the homeserver
  std::string node;       ///< cluster: the node serving it (or last serving it)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_status& x) {
  return f(caf::meta::type_name("profile_status"), x.profile, x.state, x.user_id,
           x.device_id, x.restarts, x.next_restart_in, x.last_error, x.since, x.synced,
           x.last_sync, x.outbox_queue, x.node);
}

} // namespace hm
