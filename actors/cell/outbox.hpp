#pragma once

#include "actors/cell/cell_context.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace hm {

/// Spawns the outbox of a profile, linked to its cell. Sends go out in
/// per-room order with txn ids derived from what caused them; the pending ones
/// are persisted and resumed after a restart. 429 waits as long as the server
/// says; 5xx and network errors back off (1 s doubling to 60 s); a send the
/// server refuses for good is dropped and logged; a rejected token ends the
/// cell with errc::unauthorized. Edits (durable or streaming) are spaced at
/// least a second apart per room; a streaming edit is dropped when a newer one
/// or the final one for the same message is queued, or when the server does not
/// take it (never retried: the final text is durable); a final edit the newest
/// confirmed streaming edit already shows is not sent again. A send with an
/// `after_txn` (a turn's ✅) goes only once that send is confirmed and is dropped,
/// logged, if it was refused; every drop is logged with its reason. With a crypto actor, every event
/// goes through it before the PUT (encrypted in encrypted rooms; refused in required
/// mode where the room is not encrypted: dropped and logged). Its queue depth, every
/// send's result and the waits 429s impose are counted in `metrics`.
[[nodiscard]] outbox_actor spawn_outbox(caf::local_actor* cell_self, const cell_context& ctx,
                                        crypto_actor crypto = {});

} // namespace hm
