#pragma once

// The JSON of the admin API's status (GET /v1/status, GET /readyz), shared by the
// server that writes it and `hermes-matrix status` that reads it. It holds names,
// ids, states, counts, times and user-facing error text: never a secret.

#include "messages/cluster_observe.hpp"
#include "messages/profile_status.hpp"

#include <caf/timestamp.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hm {

/// One SAS verification: {"flow_id", "user_id", "device_id", "transport" ("to_device" or
/// "in_room"), "room_id" (in-room only), "state", "emoji": [{"symbol", "name"}],
/// "decimals": [n, n, n]} (both empty until the SAS is known), and "cancel_code",
/// "cancel_reason" once cancelled.
[[nodiscard]] nlohmann::json verification_json(const verification_view& v);

/// {"version", "profiles": [{"profile", "state", "user_id", "device_id", "synced",
/// "last_sync" (RFC 3339 UTC or null), "last_sync_age_seconds" (or null),
/// "outbox_queue", "restarts", "next_restart_in_seconds", "last_error",
/// "state_since", "verifications": [verification_json]}]}. Ages are computed against
/// `now`, the server's clock.
[[nodiscard]] nlohmann::json status_json(const std::vector<profile_status>& profiles,
                                         caf::timestamp now);

/// The same for a cluster's coordinator: every profile also has its "node" (the node
/// serving it, or where it last ran), and "nodes" lists every node that joined:
/// [{"name", "alive", "profiles" (leases held), "last_renewal_age_seconds"}].
[[nodiscard]] nlohmann::json cluster_status_json(const std::vector<profile_status>& profiles,
                                                 const std::vector<node_view>& nodes,
                                                 caf::timestamp now);

/// The profiles that keep the node from being ready: every profile that is not
/// `invalid` (never started for configuration errors) must be running and have
/// committed a /sync. Empty when ready.
[[nodiscard]] std::vector<const profile_status*>
not_ready(const std::vector<profile_status>& profiles);

/// "2026-11-25T00:12:08Z".
[[nodiscard]] std::string rfc3339(caf::timestamp t);

} // namespace hm
