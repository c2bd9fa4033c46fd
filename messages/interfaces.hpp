#pragma once

// Every actor interface of hermes-matrix in one place, each handler with a
// one-line comment. An actor is reached only through these typed handles.

#include "messages/type_ids.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace hm {

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
