#pragma once

#include "messages/interfaces.hpp"
#include "metrics/node_metrics.hpp"
#include "profiles/config.hpp"

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace hm {

/// How the supervisor treats crashing cells.
struct supervision_policy {
  /// The first restart waits this long; each further crash doubles it...
  caf::timespan initial_backoff = std::chrono::seconds{1};
  /// ...up to this cap.
  caf::timespan max_backoff = std::chrono::minutes{5};
  /// A cell that ran this long before crashing starts over at initial_backoff.
  caf::timespan healthy_after = std::chrono::minutes{2};
  /// A crash sooner than this after the cell was spawned is "immediate"...
  caf::timespan immediate_window = std::chrono::seconds{10};
  /// ...and this many immediate crashes in a row mark the profile failed.
  uint32_t max_immediate_crashes = 6;
  /// On shutdown, cells that have not stopped after this long are killed.
  caf::timespan shutdown_grace = std::chrono::seconds{5};
};

/// The wait before restart number `crash_streak` (1-based) under `policy`.
[[nodiscard]] caf::timespan restart_backoff(const supervision_policy& policy,
                                            uint32_t crash_streak);

/// Spawns the cell of one profile. The production factory spawns
/// `profile_cell`; tests pass cells that crash, hang or answer on command.
using cell_factory = std::function<profile_cell_actor(
  caf::actor_system& sys, supervisor_actor supervisor,
  const profiles::profile_config& config)>;

/// Spawns the supervisor of this node. Usable profiles get a cell each; the
/// others are reported `invalid` with their first error and never started.
/// The supervisor stops every cell (and waits up to `shutdown_grace`) when it
/// receives an exit message, then terminates with the same reason. Every profile's
/// state and restarts go to `metrics` (a private registry when none is given).
/// On `reload` (SIGHUP) it compares the profiles read again with its own: added
/// ones start, removed ones stop, changed ones (config not equal) restart once
/// their old cell is down, stopped or failed ones get a fresh start, and the
/// unchanged ones keep their cell.
[[nodiscard]] supervisor_actor
spawn_supervisor(caf::actor_system& sys, std::vector<profiles::loaded_profile> profiles,
                 supervision_policy policy, cell_factory factory,
                 std::shared_ptr<metrics::node_metrics> metrics = nullptr);

} // namespace hm
