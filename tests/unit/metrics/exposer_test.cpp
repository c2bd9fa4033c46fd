#define CAF_SUITE exposer

#include "metrics/exposer.hpp"
#include "metrics/node_metrics.hpp"

#include "caf/test/dsl.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

using namespace hm::metrics;

namespace {

/// GET `path` from 127.0.0.1:`port` over plain HTTP/1.0; the whole response.
std::string http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    auto request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0)
        response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

listen_address parsed(std::string_view text) {
  auto p = parse_listen(text);
  if (!p || !*p)
    CAF_FAIL("not an address: " << text);
  return **p;
}

std::string error_of(std::string_view text) {
  auto p = parse_listen(text);
  return !p ? p.error().message : std::string{};
}

} // namespace

CAF_TEST(listen addresses) {
  auto off = parse_listen("off");
  CAF_REQUIRE(off.has_value());
  CAF_CHECK(!off->has_value());
  CAF_CHECK_EQUAL(parsed(default_listen).to_string(), "127.0.0.1:9464");
  CAF_CHECK_EQUAL(parsed("0.0.0.0:0").port, 0);
  CAF_CHECK_EQUAL(parsed("[::1]:9464").host, "[::1]");
  for (auto bad : {"9464", ":9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:70000",
                   "127.0.0.1:94x", "::1:9464", ""}) {
    CAF_MESSAGE(bad);
    auto err = error_of(bad);
    CAF_CHECK(err.find("--metrics-listen") != std::string::npos);
    CAF_CHECK(err.find("HOST:PORT") != std::string::npos);
  }
}

CAF_TEST(the exposer serves every family on a free port and refuses a taken one) {
  node_metrics node;
  node.profile("coder")->message_answered();
  auto started = exposer::start(parsed("127.0.0.1:0"), node.registry());
  CAF_REQUIRE(started.has_value());
  auto port = (*started)->port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto text = http_get(port, std::string{metrics_path});
  CAF_CHECK(text.find("200 OK") != std::string::npos);
  CAF_CHECK(text.find("# HELP hermes_matrix_profile_up ") != std::string::npos);
  CAF_CHECK(text.find("# TYPE hermes_matrix_sync_duration_seconds histogram")
            != std::string::npos);
  CAF_CHECK(text.find("hermes_matrix_messages_answered_total{profile=\"coder\"} 1")
            != std::string::npos);
  // The same port again: a clear error, no exception.
  auto again = exposer::start(parsed("127.0.0.1:" + std::to_string(port)), node.registry());
  CAF_REQUIRE(!again.has_value());
  CAF_CHECK(again.error().message.find("cannot listen on 127.0.0.1:" + std::to_string(port))
            != std::string::npos);
}
