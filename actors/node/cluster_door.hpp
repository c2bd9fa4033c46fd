#pragma once

// The coordinator's cluster port (plain TCP): CAF's middleman publishing, with
// every accepted connection screened before CAF's BASP broker reads it (see
// cluster/peer_screen.hpp for why). A connection that sends garbage, announces
// an oversized message, sends no handshake in time or hangs up without
// answering ours (a node of another cluster protocol version refuses our
// handshake that way) is dropped and logged once (rate-limited) with the
// peer's address and what was wrong. The protocol stays CAF's own: the door
// only reads what CAF reads and closes what it refuses.

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include <string>

namespace hm {

/// Publishes `whom` on host:port (0: any free port) like
/// `middleman::publish`, behind the door; returns the port. A connection that
/// has not completed its handshake after `handshake_timeout` is dropped.
[[nodiscard]] caf::expected<uint16_t> publish_behind_door(caf::actor_system& sys,
                                                          const coordinator_actor& whom,
                                                          uint16_t port, const std::string& host,
                                                          caf::timespan handshake_timeout);

} // namespace hm
