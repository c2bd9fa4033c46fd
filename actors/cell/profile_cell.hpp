#pragma once

#include "messages/interfaces.hpp"
#include "metrics/profile_metrics.hpp"
#include "profiles/config.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace hm {

/// Spawns the cell that serves one profile. Its own actor is the profile
/// actor: it opens the profile's store (taking its lock), learns who it is
/// (`/account/whoami`, or a password login kept in the store), spawns its
/// outbox and sync actors, reports `ready`, and then admits every sync batch
/// into the journal with its cursor before acting on it: policy, commands,
/// and agent sessions that stream replies. Everything it spawns is linked to
/// it, so the cell lives and dies as a whole. A store that cannot be opened
/// ends the cell with errc::store_failed; a rejected token with
/// errc::unauthorized; a token of another user than MATRIX_USER_ID with
/// errc::bad_config. The cell and its children count what they do in `metrics`.
[[nodiscard]] profile_cell_actor
spawn_profile_cell(caf::actor_system& sys, supervisor_actor supervisor,
                   const profiles::profile_config& config, http_engine_actor engine,
                   std::shared_ptr<metrics::profile_metrics> metrics);

} // namespace hm
