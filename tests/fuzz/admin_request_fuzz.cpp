// libFuzzer target for the admin API's request path: the input is sent as raw bytes
// to the real HTTP server (httpd/server.cpp over libmicrohttpd, on loopback) with the
// admin API's own decisions (app/admin_requests.cpp: routes, the token check, the
// notification body), only the actors left out.
//
// Properties (a violated one aborts): the server never crashes; every answer it gives
// is an HTTP response whose status is one the admin API or the HTTP layer can give;
// a request without the right token never reaches the handler that reads a body (no
// 2xx for /v1/status or notify without it); no body over the limit reaches the
// handler; the server still answers /healthz afterwards.
//
// Sources: tests/fuzz/admin_request_fuzz.cpp httpd/server.cpp app/admin_requests.cpp
// app/admin_token.cpp store/private_file.cpp. Seeds:
// tests/fuzz/corpus/admin_request/.

#include "app/admin_requests.hpp"
#include "httpd/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

constexpr const char* token = "fuzz-admin-token-0123456789abcdef";

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::atomic<bool> unauthorized_reached{false};
std::atomic<bool> oversized_reached{false};

/// The admin API's handlers with the actors' answers replaced by fixed ones.
hm::httpd::handlers admin_like() {
  hm::httpd::handlers h;
  h.at_head = [](const hm::httpd::request& req) -> std::optional<hm::httpd::response> {
    auto route = hm::route_of(req);
    if (auto* answer = std::get_if<hm::httpd::response>(&route))
      return *answer;
    auto& r = std::get<hm::admin_route>(route);
    if (r.what == hm::admin_route::kind::healthz)
      return hm::reply_json(200, {{"status", "alive"}});
    if (hm::needs_token(r))
      return hm::refused(req, token);
    return std::nullopt;
  };
  h.answer = [](const hm::httpd::request& req) {
    if (hm::refused(req, token))
      unauthorized_reached = true;
    if (req.body.size() > hm::max_admin_request_body)
      oversized_reached = true;
    auto r = std::get<hm::admin_route>(hm::route_of(req));
    if (r.what != hm::admin_route::kind::notify)
      return hm::reply_json(200, {{"ok", true}});
    auto parsed = hm::read_notification(req.body);
    if (!parsed)
      return hm::httpd::json_error(400, "bad_request", parsed.error().message);
    return hm::reply_json(202, {{"profile", r.profile}, {"txn_id", "hm.1"}});
  };
  return h;
}

hm::httpd::server& the_server() {
  static std::unique_ptr<hm::httpd::server> server = [] {
    hm::httpd::limits l;
    l.body_bytes = hm::max_admin_request_body;
    l.idle = std::chrono::seconds{2};
    auto started = hm::httpd::server::start("admin API", "127.0.0.1", 0, admin_like(), l);
    require(started.has_value(), "the server starts");
    return std::move(*started);
  }();
  return *server;
}

/// The offset just past the answer that starts at `at` in `got`, or npos when `got`
/// stops inside it (its headers or its body not all here yet). An answer is a status
/// line, headers, and a body of Content-Length bytes. The answer to a HEAD has the
/// length of a body it does not carry: told by the next answer starting where its
/// headers end, or by nothing following them (libmicrohttpd sends a buffered answer's
/// headers and body in one write, so headers alone are never half an answer).
size_t answer_end(const std::string& got, size_t at) {
  auto end = got.find("\r\n\r\n", at);
  if (end == std::string::npos)
    return std::string::npos;
  size_t length = 0;
  auto cl = got.find("Content-Length: ", at);
  if (cl != std::string::npos && cl < end)
    length = std::strtoul(got.c_str() + cl + 16, nullptr, 10);
  if (got.compare(end + 4, 7, "HTTP/1.") == 0 || got.size() == end + 4)
    length = 0;
  if (length > got.size() - (end + 4))
    return std::string::npos;
  return end + 4 + length;
}

/// Whether `got` ends where an answer ends (or is empty).
bool whole_answers(const std::string& got) {
  for (size_t at = 0; at < got.size();) {
    at = answer_end(got, at);
    if (at == std::string::npos)
      return false;
  }
  return true;
}

/// Reads what the server sends on `fd` until it closes. An incomplete request gets no
/// answer: libmicrohttpd waits for the rest until its idle timeout even after the
/// client's end of sending, so 100 ms of silence after a whole answer (or none) ends
/// the exchange. Silence inside an answer is a slow server, not the end: that waits up
/// to 3 s, so a loaded machine (CI runs this beside the integration tests) cannot cut
/// an answer in two and make a sound server look broken. With answers::first the
/// first whole answer ends the reading, and waiting for it is waiting inside one.
enum class answers { all, first };

/// Whether `fd` becomes ready for `events` within `ms`. libFuzzer's timer (SIGALRM, for
/// -timeout) interrupts blocking calls: an interrupted wait goes on waiting, it is not
/// the server's silence.
bool ready(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  int n;
  do
    n = ::poll(&p, 1, ms);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

std::string read_answers(int fd, answers want = answers::all) {
  std::string got;
  char buf[4096];
  for (;;) {
    bool whole = whole_answers(got);
    if (want == answers::first && whole && !got.empty())
      break;
    bool waiting = !whole || (want == answers::first && got.empty());
    if (!ready(fd, POLLIN, waiting ? 3000 : 100))
      break;
    ssize_t n;
    do
      n = ::recv(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

int connect_to_server() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  require(fd >= 0, "a socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(the_server().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  if (err == EINTR) {
    // An interrupted connect goes on in the background (a full accept queue makes it
    // wait): its outcome is known once the socket is writable.
    socklen_t len = sizeof err;
    err = ready(fd, POLLOUT, 3000)
              && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
            ? err
            : ETIMEDOUT;
  }
  if (err != 0) {
    std::fprintf(stderr, "connect: %s\n", std::strerror(err));
    require(false, "connects");
  }
  return fd;
}

/// Closes with a reset, so that the server lets the connection go at once.
void reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

/// Sends `bytes`, closes the sending side, and returns what came back.
std::string exchange(const std::string& bytes) {
  int fd = connect_to_server();
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // the server answered and closed early
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  auto got = read_answers(fd);
  reset(fd);
  return got;
}

/// `GET /healthz`: its answer, read until it is whole (up to 3 s of silence, however
/// loaded the machine; read_answers), then the connection is reset, leaving no TIME_WAIT behind to
/// use up the ports of the thousands of exchanges a run makes.
std::string probe_healthz() {
  int fd = connect_to_server();
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  require(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(request.size()),
          "the probe is sent");
  auto got = read_answers(fd, answers::first);
  reset(fd);
  return got;
}

bool known_status(int status) {
  switch (status) {
    case 200: case 202: case 400: case 401: case 404: case 405: case 413: case 414:
    case 417: case 431: case 500: case 501: case 503: case 505:
      return true;
    default:
      return false;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto got = exchange(input);
  // Each answer on the connection (pipelined requests get one each): whole, with a
  // status line whose status the admin API or HTTP can give.
  require(whole_answers(got), "every answer is whole");
  for (size_t at = 0; at < got.size(); at = answer_end(got, at)) {
    require(got.compare(at, 7, "HTTP/1.") == 0 && got.size() >= at + 12,
            "an answer starts with a status line");
    require(known_status(std::atoi(got.c_str() + at + 9)),
            "a status the admin API or HTTP can give");
  }
  require(!unauthorized_reached, "no request without the token reached a body handler");
  require(!oversized_reached, "no body over the limit reached a handler");
  auto probe = probe_healthz();
  require(probe.rfind("HTTP/1.1 200", 0) == 0, "the server still answers /healthz");
  return 0;
}
