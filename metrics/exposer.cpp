#include "metrics/exposer.hpp"

#include <prometheus/exposer.h>

#include <arpa/inet.h>

#include <charconv>
#include <exception>
#include <vector>

namespace hm::metrics {

std::variant<std::optional<listen_address>, std::string> parse_listen(std::string_view text) {
  if (text == "off")
    return std::optional<listen_address>{};
  auto usage = [&](const std::string& what) {
    return "--metrics-listen " + std::string{text} + ": " + what
           + "; expected HOST:PORT with an IP address (e.g. 127.0.0.1:9464, [::1]:9464, "
             "0.0.0.0:9464) or off";
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

exposer::exposer(std::unique_ptr<prometheus::Exposer> impl, uint16_t port)
  : impl_(std::move(impl)), port_(port) {
}

exposer::~exposer() = default;

std::variant<std::unique_ptr<exposer>, std::string>
exposer::start(const listen_address& where,
               const std::shared_ptr<prometheus::Collectable>& registry) {
  std::unique_ptr<prometheus::Exposer> impl;
  try {
    // A few threads, and a bound on how long one request may take to arrive: with one
    // thread, two clients that opened a connection and sent nothing held every scrape
    // up for civetweb's default 30 s each.
    impl = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
      "listening_ports", where.to_string(), "num_threads", "4", "request_timeout_ms", "5000"});
  } catch (const std::exception&) {
    // civetweb's text ("null context ...") says less than this does.
    return "cannot listen on " + where.to_string()
           + " (in use, or not an address of this host)";
  }
  impl->RegisterCollectable(registry, std::string{metrics_path});
  auto ports = impl->GetListeningPorts();
  auto port = ports.empty() ? where.port : static_cast<uint16_t>(ports.front());
  return std::unique_ptr<exposer>{new exposer(std::move(impl), port)};
}

} // namespace hm::metrics
