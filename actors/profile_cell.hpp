#pragma once

#include "messages/interfaces.hpp"
#include "profiles/config.hpp"

#include <caf/fwd.hpp>

namespace hm {

/// Spawns the cell that serves one profile: it opens the profile's store
/// (taking its lock), sets up the profile's log, and reports `ready` to the
/// supervisor. A store that cannot be opened ends the cell with
/// errc::store_failed and a message naming the file and what to do.
/// The Matrix actors of the cell (sync, outbox, crypto, agent sessions) live
/// inside it and die with it.
[[nodiscard]] profile_cell_actor spawn_profile_cell(caf::actor_system& sys,
                                                    supervisor_actor supervisor,
                                                    const profiles::profile_config& config);

} // namespace hm
