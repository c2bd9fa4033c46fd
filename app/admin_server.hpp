#pragma once

// The admin HTTP API of a node (README: "Admin HTTP API"): health, readiness, the
// status of every profile, and notifications into a profile's home room. It is
// served by httpd/server.hpp (libmicrohttpd, with limits for hostile clients) and
// reaches the actors only through typed requests with a timeout, made on the
// server's worker threads, so a slow or stuck actor costs an HTTP error, never a
// scheduler thread. The token is checked on the headers, before a body is read.

#include "httpd/server.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hm {

/// Where the admin API listens.
struct admin_listen {
  std::string host; ///< an IP address ("127.0.0.1", "::1", "0.0.0.0") or "localhost"
  int port = 0;     ///< 0: any free port (the log says which)
};

/// Parses --admin-listen: "off" (nullopt: no admin API), "HOST:PORT", "[V6ADDR]:PORT"
/// or ":PORT" (loopback). An invalid_input error naming what is wrong otherwise.
[[nodiscard]] hm::expected<std::optional<admin_listen>> parse_admin_listen(std::string_view text);

/// The certificate and key files of --admin-tls-cert/--admin-tls-key: the key is a
/// private file (store::read_secret_file's rules: its owner's, not readable by
/// others, no link); an error naming the file otherwise.
[[nodiscard]] hm::expected<httpd::tls_files>
read_admin_tls(const std::filesystem::path& cert, const std::filesystem::path& key);

/// True for an address only this host reaches: 127.0.0.0/8, ::1, localhost. Elsewhere
/// the bearer token would cross the network, which `run` allows only over TLS
/// (--admin-tls-cert/--admin-tls-key) or when told --admin-listen-plaintext.
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

  /// Binds `where` and serves from then on (over TLS when given); an error when it
  /// cannot bind.
  [[nodiscard]] hm::expected<void>
  start(const admin_listen& where, std::optional<httpd::tls_files> tls = std::nullopt);

  /// The bound port (after a successful start).
  [[nodiscard]] int port() const;

  /// Stops serving; requests in flight finish first.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace hm
