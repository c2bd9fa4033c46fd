#include "metrics/exposer.hpp"

#include "httpd/server.hpp"

#include <prometheus/text_serializer.h>

#include <arpa/inet.h>

#include <charconv>
#include <vector>

namespace hm::metrics {

hm::expected<std::optional<listen_address>> parse_listen(std::string_view text) {
  if (text == "off")
    return std::optional<listen_address>{};
  auto usage = [&](const std::string& what) {
    return fail(error_code::invalid_input,
                "--metrics-listen " + std::string{text} + ": " + what
                  + "; expected HOST:PORT with an IP address (e.g. 127.0.0.1:9464, "
                    "[::1]:9464, 0.0.0.0:9464) or off");
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return usage("no host");
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size()
      || port > 65535)
    return usage("the port is not a number from 0 to 65535");
  unsigned char buf[16];
  bool ip = false;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    ip = inet_pton(AF_INET6, std::string{host.substr(1, host.size() - 2)}.c_str(), buf) == 1;
  else
    ip = inet_pton(AF_INET, std::string{host}.c_str(), buf) == 1;
  if (!ip)
    return usage("the host is not an IPv4 address or a bracketed IPv6 address");
  return std::optional<listen_address>{listen_address{std::string{host},
                                                      static_cast<uint16_t>(port)}};
}

exposer::exposer(std::unique_ptr<httpd::server> impl, uint16_t port)
  : impl_(std::move(impl)), port_(port) {
}

exposer::~exposer() = default;

hm::expected<std::unique_ptr<exposer>>
exposer::start(const listen_address& where,
               const std::shared_ptr<prometheus::Collectable>& registry) {
  httpd::handlers h;
  h.at_head = [](const httpd::request& req) -> std::optional<httpd::response> {
    if (req.path != metrics_path)
      return httpd::json_error(404, "not_found", "no such endpoint: " + req.path
                                                   + " (the metrics are at /metrics)");
    if (req.method != "GET" && req.method != "HEAD")
      return httpd::json_error(405, "method_not_allowed", "/metrics answers GET only");
    return std::nullopt; // collected on a worker: a cluster's scrape waits on its nodes
  };
  h.answer = [registry](const httpd::request&) {
    httpd::response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = prometheus::TextSerializer{}.Serialize(registry->Collect());
    return r;
  };
  auto started = httpd::server::start("metrics endpoint", where.host, where.port, std::move(h));
  if (!started)
    return hm::unexpected{std::move(started).error()};
  auto server = std::move(*started);
  auto port = static_cast<uint16_t>(server->port());
  return std::unique_ptr<exposer>{new exposer(std::move(server), port)};
}

} // namespace hm::metrics
