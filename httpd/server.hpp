#pragma once

// The HTTP server of the admin API and of /metrics: libmicrohttpd (event driven, so
// an idle or dribbling client costs a socket and a small memory pool, never a
// thread), with limits set for clients that mean harm:
// - connections in all and per client address, a listen backlog for bursts;
// - request headers bounded in bytes (a header flood gets a 431, nothing grows);
// - a body is read only when the handler asked for it after seeing the headers (so a
//   request without a token never has its body read), and only up to a limit however
//   it is framed (Content-Length or chunked);
// - an idle timeout, and a deadline for the whole request from its first byte to its
//   answer, which a client sending a byte now and then cannot stretch;
// - handlers that may block (they ask actors, up to a timeout) run on a few worker
//   threads while the connection is suspended, so they hold up no other client.
// Errors the server finds itself are JSON like the API's own: {"errcode", "error"}.
// No CAF here: the handlers are plain functions (design: Layers).

#include "errors/error.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hm::httpd {

/// What the server holds a client to. The defaults fit an operator's API and a
/// Prometheus scrape target, not a public web site.
struct limits {
  unsigned connections = 512;        ///< open at once, in all
  unsigned connections_per_ip = 256; ///< open at once from one client address
  unsigned listen_backlog = 512;     ///< connections waiting to be accepted
  std::chrono::seconds idle{10};     ///< without a byte either way, a connection closes
  std::chrono::seconds request{15};  ///< from a request's first byte to its answer being queued
  size_t header_bytes = 16 * 1024;   ///< request line and headers
  size_t body_bytes = 64 * 1024;     ///< a request body, however framed
  unsigned io_threads = 2;           ///< event loops
  unsigned workers = 4;              ///< threads that run handlers which may block
  size_t waiting = 64;               ///< requests waiting for a worker; more get a 503
};

/// One request, as the handlers see it.
struct request {
  std::string method;                                       ///< "GET", "POST"
  std::string path;                                         ///< "/v1/status", no query
  std::string peer;                                         ///< the client's address, for logs
  std::vector<std::pair<std::string, std::string>> headers; ///< as received
  std::string body;                                         ///< only in `answer`

  /// The first header of that name (case-insensitive), "" when there is none.
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

/// One answer.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; ///< besides Content-Type
};

/// A JSON error answer: {"errcode": errcode, "error": text}.
[[nodiscard]] response json_error(int status, std::string_view errcode, const std::string& text);

/// What a server does with its requests.
struct handlers {
  /// Called on an event loop once the headers are in; must not block. An answer ends
  /// the request there (its body is never read); nullopt reads the body and calls
  /// `answer`.
  std::function<std::optional<response>(const request&)> at_head;
  /// Called on a worker thread with the whole body; may block for a bounded time.
  std::function<response(const request&)> answer;
  /// What libmicrohttpd says about connections (refused, reset, timed out): one line,
  /// for a debug log, since a client can make it say something for every connection.
  std::function<void(std::string_view)> log;
};

/// TLS for the server: PEM texts of the certificate (chain) and its private key.
struct tls_files {
  std::string cert_pem;
  std::string key_pem;
};

/// A running server; stops when destroyed.
class server {
public:
  /// Listens on `host` (an IP address, "[v6]" or "localhost") and `port` (0: any
  /// free port) and serves; an error when it cannot (invalid_input: not an IP address;
  /// io: the port is in use, the address not this host's, or the TLS files do not load).
  /// `name` ("admin API", "metrics endpoint") says whose server it is in logs and errors.
  [[nodiscard]] static hm::expected<std::unique_ptr<server>>
  start(const std::string& name, const std::string& host, int port, handlers h, limits l = {},
        std::optional<tls_files> tls = std::nullopt);

  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound port.
  [[nodiscard]] int port() const;

  /// Stops accepting, lets the handlers at work finish, closes every connection.
  void stop();

  struct impl; // public only for libmicrohttpd's C callbacks in server.cpp

private:
  explicit server(std::unique_ptr<impl> d);
  std::unique_ptr<impl> impl_;
};

} // namespace hm::httpd
