#pragma once

// What every actor of one profile cell is spawned with: the cell's one way to its
// homeserver, its store, who the bot is, and where it logs and counts.

#include "actors/cell/homeserver.hpp"
#include "messages/interfaces.hpp"
#include "metrics/profile_metrics.hpp"
#include "store/profile_store.hpp"

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace hm {

struct cell_context {
  homeserver_link link;
  std::shared_ptr<profile_store> store;
  std::string user_id; ///< the bot's, as the homeserver confirmed it
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<metrics::profile_metrics> metrics;
  profile_cell_actor cell; ///< the profile actor, which spawned them all
};

} // namespace hm
