// The HTTP server of the admin API and /metrics (httpd/server.hpp) on loopback, driven
// with raw sockets: what it answers itself, what it never reads, and that a handler
// that blocks holds up no other client.
#define CAF_SUITE httpd.server
#include "caf/test/unit_test_impl.hpp"

#include "httpd/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace hm::httpd;
using namespace std::chrono_literals;

namespace {

/// A connection to the server under test.
class client {
public:
  explicit client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~client() { ::close(fd_); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connected() const { return connected_; }

  /// False once the server closed the connection.
  bool send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  /// Everything received until the server closes, or `wait` passes without a byte.
  std::string receive(std::chrono::milliseconds wait = 10s) {
    std::string got;
    char buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0)
        return got;
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return got;
      got.append(buf, static_cast<size_t>(n));
      if (auto end = got.find("\r\n\r\n"); end != std::string::npos) {
        auto cl = got.find("Content-Length: ");
        if (cl != std::string::npos && cl < end
            && got.size() >= end + 4 + std::stoul(got.substr(cl + 16)))
          return got;
      }
    }
  }

  /// True when the server has closed the connection within `wait`.
  bool closed_within(std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0 && ::recv(fd_, buf, sizeof buf, 0) <= 0)
        return true;
    }
    return false;
  }

private:
  int fd_ = -1;
  bool connected_ = false;
};

int status_of(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : 0;
}

std::string body_of(const std::string& answer) {
  auto end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string{} : answer.substr(end + 4);
}

/// A server whose handlers record what reached them; /slow blocks until released.
struct fixture {
  std::atomic<int> answered{0};
  std::atomic<int> entered_slow{0};
  std::atomic<size_t> largest_body{0};
  std::mutex mutex;
  std::condition_variable cv;
  bool released = false;
  std::unique_ptr<server> srv;

  void start(limits l = {}) {
    handlers h;
    h.at_head = [](const request& req) -> std::optional<response> {
      if (req.path == "/probe")
        return response{200, "application/json", "{\"status\": \"alive\"}\n", {}};
      if (req.path == "/locked" && req.header("authorization") != "Bearer yes")
        return json_error(401, "unauthorized", "no");
      return std::nullopt;
    };
    h.answer = [this](const request& req) {
      if (req.path == "/slow") {
        ++entered_slow;
        std::unique_lock lock{mutex};
        cv.wait(lock, [this] { return released; });
      }
      ++answered;
      largest_body = std::max(largest_body.load(), req.body.size());
      return response{200, "text/plain", "got " + std::to_string(req.body.size()), {}};
    };
    auto started = server::start("test server", "127.0.0.1", 0, std::move(h), l);
    CAF_REQUIRE(started.has_value());
    srv = std::move(*started);
  }

  void release() {
    std::lock_guard lock{mutex};
    released = true;
    cv.notify_all();
  }

  /// Waits (bounded) until `n` requests are blocked in /slow.
  void wait_slow(int n) {
    for (int i = 0; i < 1000 && entered_slow.load() < n; ++i)
      std::this_thread::sleep_for(10ms);
    CAF_REQUIRE_EQUAL(entered_slow.load(), n);
  }

  std::string ask(std::string_view bytes) {
    client c{srv->port()};
    CAF_REQUIRE(c.connected());
    c.send(bytes);
    return c.receive();
  }

  ~fixture() {
    release();
    if (srv)
      srv->stop();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(httpd_server, fixture)

CAF_TEST(a request is answered by at_head or by a worker with its body) {
  start();
  auto probe = ask("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_CHECK_EQUAL(status_of(probe), 200);
  CAF_CHECK(probe.find("Content-Type: application/json") != std::string::npos);
  auto posted = ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  CAF_CHECK_EQUAL(status_of(posted), 200);
  CAF_CHECK_EQUAL(body_of(posted), "got 5");
  auto chunked = ask("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  CAF_CHECK_EQUAL(body_of(chunked), "got 7");
}

CAF_TEST(a request refused on its headers never has its body read) {
  start();
  client c{srv->port()};
  c.send("POST /locked HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  auto answer = c.receive();
  CAF_CHECK_EQUAL(status_of(answer), 401);
  CAF_CHECK(body_of(answer).find("\"errcode\": \"unauthorized\"") != std::string::npos);
  CAF_CHECK_EQUAL(answered.load(), 0);
}

CAF_TEST(a body over the limit is refused however it is framed) {
  limits l;
  l.body_bytes = 1024;
  start(l);
  auto declared = ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n");
  CAF_CHECK_EQUAL(status_of(declared), 413);
  CAF_CHECK(body_of(declared).find("\"errcode\": \"too_large\"") != std::string::npos);
  // Chunked, 64 KiB in pieces: read without being kept, then the JSON 413.
  std::string piece = "400\r\n" + std::string(1024, 'x') + "\r\n";
  client c{srv->port()};
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 64; ++i)
    c.send(piece);
  c.send("0\r\n\r\n");
  auto answer = c.receive();
  CAF_CHECK_EQUAL(status_of(answer), 413);
  CAF_CHECK(body_of(answer).find("\"errcode\": \"too_large\"") != std::string::npos);
  // Megabytes past the limit: the connection is dropped before the body ends.
  client flood{srv->port()};
  flood.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  int sent = 0;
  while (sent < 100 * 1024 && flood.send(piece))
    ++sent;
  CAF_CHECK_LESS(sent, 100 * 1024);
  CAF_CHECK_EQUAL(answered.load(), 0);
  CAF_CHECK_EQUAL(largest_body.load(), 0u);
}

CAF_TEST(headers over the limit get a 431 and nothing grows) {
  limits l;
  l.header_bytes = 4096;
  start(l);
  client c{srv->port()};
  c.send("GET /probe HTTP/1.1\r\nHost: x\r\n");
  std::string line = "X-Flood: " + std::string(1000, 'a') + "\r\n";
  int sent = 0;
  while (sent < 10000 && c.send(line))
    ++sent;
  CAF_CHECK_LESS(sent, 10000); // the server stopped reading
  auto answer = c.receive();
  CAF_CHECK(answer.empty() || status_of(answer) == 431);
}

CAF_TEST(a blocking handler holds up no other client) {
  limits l;
  l.workers = 2;
  start(l);
  client slow{srv->port()};
  slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  // While /slow waits on a worker, the probe and another worker's request are answered.
  CAF_CHECK_EQUAL(status_of(ask("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
  CAF_CHECK_EQUAL(status_of(ask("GET /other HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
  release();
  CAF_CHECK_EQUAL(status_of(slow.receive()), 200);
}

CAF_TEST(requests beyond the waiting room get a 503) {
  limits l;
  l.workers = 1;
  l.waiting = 1;
  start(l);
  client first{srv->port()};
  first.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  wait_slow(1); // the only worker is taken
  // Of two more, one waits in the queue and the other is turned away at once.
  client second{srv->port()};
  client third{srv->port()};
  second.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  third.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = std::async(std::launch::async, [&] { return second.receive(); });
  auto b = std::async(std::launch::async, [&] { return third.receive(); });
  while (a.wait_for(10ms) != std::future_status::ready
         && b.wait_for(10ms) != std::future_status::ready) {
  }
  auto& turned_away = a.wait_for(0s) == std::future_status::ready ? a : b;
  auto& queued = &turned_away == &a ? b : a;
  auto refusal = turned_away.get();
  CAF_CHECK_EQUAL(status_of(refusal), 503);
  CAF_CHECK(body_of(refusal).find("\"errcode\": \"busy\"") != std::string::npos);
  release();
  CAF_CHECK_EQUAL(status_of(first.receive()), 200);
  CAF_CHECK_EQUAL(status_of(queued.get()), 200);
}

CAF_TEST(a request that dribbles in is cut off at its deadline) {
  limits l;
  l.idle = 60s;     // a byte every 300 ms keeps an idle timeout from firing ...
  l.request = 1s;   // ... not the request's deadline
  start(l);
  client c{srv->port()};
  std::string request = "GET /probe HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 'd');
  bool cut = false;
  for (char ch : request) {
    if (!c.send(std::string_view{&ch, 1}) || c.closed_within(300ms)) {
      cut = true;
      break;
    }
  }
  CAF_CHECK(cut);
}

CAF_TEST(stop finishes the handlers at work) {
  start();
  client slow{srv->port()};
  slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  wait_slow(1);
  auto stopped = std::async(std::launch::async, [this] { srv->stop(); });
  release();
  stopped.wait();
  CAF_CHECK_EQUAL(answered.load(), 1);
}

CAF_TEST(an address that is not an IP of this host is refused with a reason) {
  auto started = server::start("test server", "example.org", 0, {}, {});
  CAF_REQUIRE(!started.has_value());
  CAF_CHECK(started.error().message.find("example.org") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
