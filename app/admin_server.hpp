#pragma once

// The admin HTTP API of a node (README: "Admin HTTP API"): health, readiness, the
// status of every profile, and notifications into a profile's home room. It runs on
// its own threads (cpp-httplib) and reaches the actors only through typed requests
// with a timeout, so a slow or stuck actor costs an HTTP error, never a scheduler
// thread.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hm {

/// Where the admin API listens.
struct admin_listen {
  std::string host; ///< "127.0.0.1", "::1", "0.0.0.0", a name
  int port = 0;     ///< 0: any free port (the log says which)
};

/// Parses --admin-listen: "off" (nullopt: no admin API), "HOST:PORT", "[V6ADDR]:PORT"
/// or ":PORT" (loopback). An error text naming what is wrong otherwise.
[[nodiscard]] std::variant<std::optional<admin_listen>, std::string>
parse_admin_listen(std::string_view text);

/// True for an address only this host reaches: 127.0.0.0/8, ::1, localhost. Elsewhere
/// the bearer token would cross the network in clear (the admin API has no TLS), which
/// `run` refuses unless told --admin-listen-plaintext.
[[nodiscard]] bool is_loopback_host(std::string_view host);

/// The admin HTTP server. Stops (and joins its threads) when destroyed.
class admin_server {
public:
  /// A single node: the status and notifications of its supervisor's profiles.
  admin_server(caf::actor_system& sys, supervisor_actor supervisor, std::string token);
  /// A cluster's coordinator: the status of every profile of the cluster with its
  /// node, the nodes, and notifications forwarded to the node serving the profile.
  admin_server(caf::actor_system& sys, coordinator_actor coordinator, std::string token);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Binds `where` and serves from then on; an error text when it cannot bind.
  [[nodiscard]] std::optional<std::string> start(const admin_listen& where);

  /// The bound port (after a successful start).
  [[nodiscard]] int port() const;

  /// Stops serving; requests in flight finish first.
  void stop();

private:
  void routes();

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace hm
