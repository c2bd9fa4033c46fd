#pragma once

// Every actor interface of hermes-matrix in one place, each handler with a
// one-line comment. An actor is reached only through these typed handles.

#include "messages/type_ids.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace hm {

/// Receives the body of a streamed http_call as it arrives, then its end.
using http_stream_sink_actor = caf::typed_actor<
  // A piece of the body, in order.
  caf::reacts_to<http_chunk>,
  // The call ended (the body went out as chunks; status 0 means no response).
  caf::reacts_to<http_result>>;

/// The node's HTTP client: one thread driving libcurl's multi interface for
/// every profile, so that a thousand long-polls cost one thread.
using http_engine_actor = caf::typed_actor<
  // Performs a call and replies with its result (never an error message:
  // failures are results with status 0 and a reason).
  caf::replies_to<http_call>::with<http_result>,
  // Performs a call whose body streams to the sink as chunks, then its result.
  caf::reacts_to<http_call, http_stream_sink_actor>,
  // Cancels the sender's call with this id; its result says "cancelled".
  caf::reacts_to<atom::cancel, uint64_t>,
  // Returns how many calls are in flight (metrics, tests).
  caf::replies_to<atom::status>::with<uint64_t>>;

/// One profile cell: everything that serves one profile on Matrix. It dies and
/// restarts as a whole; nothing mutable is shared with another cell.
using profile_cell_actor = caf::typed_actor<
  // Returns this profile's status as the cell itself sees it.
  caf::replies_to<atom::status>::with<profile_status>,
  // Answers at once; the supervisor's tests use it to see a cell is responsive.
  caf::replies_to<atom::ping>::with<atom::ping>>;

/// The supervisor of a node: spawns a cell per profile, restarts failed cells
/// with backoff, and knows the state of every profile.
using supervisor_actor = caf::typed_actor<
  // Returns the status of every profile on this node, in profile order.
  caf::replies_to<atom::status>::with<std::vector<profile_status>>,
  // A cell reports it has started and serves its profile (user id, device id).
  caf::reacts_to<atom::ready, std::string, std::string, std::string>,
  // Internal: the backoff of a crashed profile has passed; start it again.
  caf::reacts_to<atom::restart, std::string, uint64_t>,
  // Internal: the shutdown grace period is over; kill cells that still run.
  caf::reacts_to<atom::deadline>>;

} // namespace hm
