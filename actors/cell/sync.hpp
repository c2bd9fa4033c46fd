#pragma once

#include "actors/cell/cell_context.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace hm {

/// Spawns the sync actor of a profile, linked to its cell. It creates (once)
/// and reuses a filter, long-polls /sync from the stored cursor, and hands each
/// batch to the cell; the cell commits the cursor with the batch. Errors back
/// off 1 s doubling to 60 s with jitter (or as long as the server says);
/// M_UNKNOWN_POS starts over without replaying; a rejected token ends the cell
/// with errc::unauthorized. Every /sync request (result, duration) and the events each
/// batch brings (by type) are counted in `metrics`.
[[nodiscard]] sync_actor spawn_sync(caf::local_actor* cell_self, const cell_context& ctx);

} // namespace hm
