#pragma once

// The cluster part of `run`: flags to settings, the middleman's configuration,
// publishing the coordinator and starting this process's node.

#include "actors/node/cluster_node.hpp"
#include "actors/node/coordinator.hpp"
#include "app/commands.hpp"
#include "app/worker_processes.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

namespace hm {

struct host_port {
  std::string host;
  uint16_t port = 0;
};

/// Parses HOST:PORT (port 0: any free port, for a coordinator).
[[nodiscard]] caf::expected<host_port> parse_host_port(const std::string& text);

/// Checks the flags; the error names the flag that is wrong and what to do.
[[nodiscard]] caf::error check_cluster_options(const cluster_options& options);

/// Loads the middleman (and caf::openssl with certificates) with heartbeats
/// and connection timeouts on, and the app identifier that refuses a peer of
/// another protocol version.
void configure_middleman(caf::actor_system_config& cfg, const cluster_options& options);

/// What the cluster part of a running node holds, to stop it in order.
struct cluster_runtime {
  coordinator_actor coordinator;
  cluster_node_actor node;
  std::unique_ptr<worker_processes> workers;
};

/// Starts the coordinator (published on --cluster-listen) or nothing, this
/// process's node unless the profiles run in --workers processes, and those.
/// `refused` is set when the coordinator refuses this node.
[[nodiscard]] caf::expected<cluster_runtime>
start_cluster(caf::actor_system& sys, const run_options& options, const std::string& secret,
              cluster_node_settings node, std::atomic<bool>& refused);

} // namespace hm
