#pragma once

// The HTTP endpoint Prometheus scrapes (`--metrics-listen`, default 127.0.0.1:9464,
// path /metrics): the text prometheus-cpp's serializer makes, served by the
// project's HTTP server (httpd/server.hpp) with its limits for hostile clients.
// Scrapes run on its worker threads, several at once: slow or idle clients do not
// hold them up.

#include "errors/error.hpp"

#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hm::httpd {
class server;
}

namespace hm::metrics {

inline constexpr std::string_view default_listen = "127.0.0.1:9464";
inline constexpr std::string_view metrics_path = "/metrics";

/// Where to listen: an IP literal (IPv6 in brackets) and a port (0: any free one).
struct listen_address {
  std::string host; ///< "127.0.0.1", "0.0.0.0", "[::1]"
  uint16_t port = 0;
  [[nodiscard]] std::string to_string() const { return host + ":" + std::to_string(port); }
};

/// Reads a --metrics-listen value: "off" (nullopt: no endpoint), or HOST:PORT; else
/// an invalid_input error saying what is wrong.
[[nodiscard]] hm::expected<std::optional<listen_address>> parse_listen(std::string_view text);

/// A running endpoint; stops when destroyed.
class exposer {
public:
  /// Starts serving `registry` (a node's registry, or the coordinator's cluster_scrape)
  /// at `where`; an error when the address cannot be
  /// bound (in use, not an address of this host).
  [[nodiscard]] static hm::expected<std::unique_ptr<exposer>>
  start(const listen_address& where, const std::shared_ptr<prometheus::Collectable>& registry);

  ~exposer();
  exposer(const exposer&) = delete;
  exposer& operator=(const exposer&) = delete;

  /// The port actually bound (the free one chosen for port 0).
  [[nodiscard]] uint16_t port() const { return port_; }

private:
  exposer(std::unique_ptr<httpd::server> impl, uint16_t port);

  std::unique_ptr<httpd::server> impl_;
  uint16_t port_;
};

} // namespace hm::metrics
