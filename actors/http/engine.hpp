#pragma once

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include <chrono>

namespace hm {

/// What every call of one engine has in common.
struct http_engine_options {
  /// Longest wait for a connection (TCP and TLS); the whole call is bounded by
  /// http_call::timeout.
  caf::timespan connect_timeout = std::chrono::seconds{10};
  /// Connections to one host at most, 0 for no limit. HTTP/1.1 carries one call
  /// per connection, so a limit makes calls wait for each other: it must stay
  /// above the number of long-polls that go to one homeserver.
  long max_host_connections = 0;
};

/// Spawns the node's http engine: a typed actor in front of one thread that
/// drives every transfer through libcurl's multi interface. The thread stops
/// when the actor terminates; calls still in flight then end with an
/// "shutting down" result. Throws std::runtime_error if libcurl cannot be
/// initialised (at startup, before any call).
[[nodiscard]] http_engine_actor spawn_http_engine(caf::actor_system& sys,
                                                  http_engine_options options = {});

} // namespace hm
