#define CAF_SUITE peer_screen

#include "cluster/peer_screen.hpp"

#include "caf/test/unit_test.hpp"

#include <array>
#include <cstring>

using namespace hm;

namespace {

/// A BASP 0.17 header, as CAF's binary serializer writes it (network byte order).
std::array<unsigned char, basp_header_size> header(uint8_t op, uint32_t payload, uint8_t flags = 0,
                                                   uint64_t operation_data = 0) {
  std::array<unsigned char, basp_header_size> h{};
  h[0] = op;
  h[3] = flags;
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<unsigned char>(payload >> (8 * (3 - i)));
  for (int i = 0; i < 8; ++i)
    h[8 + i] = static_cast<unsigned char>(operation_data >> (8 * (7 - i)));
  return h;
}

} // namespace

CAF_TEST(a client handshake with a small payload passes) {
  auto h = header(0x01, 37);
  CAF_CHECK_EQUAL(client_handshake_problem(h.data(), h.size()), "");
}

CAF_TEST(anything else first is refused with what was wrong) {
  auto server = header(0x00, 37, 0, 3); // a server handshake: a peer that is no client
  CAF_CHECK(client_handshake_problem(server.data(), server.size()).find("not a cluster handshake")
            != std::string::npos);
  auto message = header(0x02, 37); // a message before any handshake
  CAF_CHECK(!client_handshake_problem(message.data(), message.size()).empty());
  auto flagged = header(0x01, 37, 0x02);
  CAF_CHECK(!client_handshake_problem(flagged.data(), flagged.size()).empty());
  auto empty = header(0x01, 0);
  CAF_CHECK(client_handshake_problem(empty.data(), empty.size()).find("without its node id")
            != std::string::npos);
  const char garbage[] = "\x00\xffGET / HTTP/1.1\r\n\r\n0123456789abc";
  CAF_CHECK(!client_handshake_problem(garbage, basp_header_size).empty());
  CAF_CHECK(!client_handshake_problem(garbage, 10).empty());
}

CAF_TEST(a handshake announcing a huge payload is refused before it is read) {
  auto huge = header(0x01, 0xF0000000u);
  CAF_CHECK_EQUAL(client_handshake_problem(huge.data(), huge.size()),
                  "announced a handshake of 4026531840 bytes (at most 4096)");
  auto at_limit = header(0x01, max_handshake_payload);
  CAF_CHECK_EQUAL(client_handshake_problem(at_limit.data(), at_limit.size()), "");
}

CAF_TEST(the bad peer log keeps to its rate and counts what it held back) {
  using namespace std::chrono_literals;
  bad_peer_log log{3, 1s};
  auto t = bad_peer_log::clock::time_point{} + 100s;
  for (int i = 0; i < 3; ++i) {
    auto line = log.admit("127.0.0.1:1000", "garbage", t);
    CAF_REQUIRE(line);
    CAF_CHECK_EQUAL(*line, "cluster: refused a connection from 127.0.0.1:1000: garbage");
  }
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(!log.admit("127.0.0.1:1000", "garbage", t));
  CAF_CHECK(!log.held_back(t)); // no room for a line yet
  auto later = log.admit("127.0.0.1:2000", "silent", t + 1s);
  CAF_REQUIRE(later);
  CAF_CHECK_EQUAL(*later, "cluster: refused a connection from 127.0.0.1:2000: silent (and 5 more "
                          "refused connections not logged)");
  CAF_CHECK(!log.admit("127.0.0.1:3000", "garbage", t + 1s));
  auto summary = log.held_back(t + 2s);
  CAF_REQUIRE(summary);
  CAF_CHECK_EQUAL(*summary, "cluster: 1 more refused connections were not logged (rate limit)");
  CAF_CHECK(!log.held_back(t + 3s)); // nothing left to tell
  // A long quiet time refills the burst, not more.
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(log.admit("127.0.0.1:1000", "garbage", t + 1h));
  CAF_CHECK(!log.admit("127.0.0.1:1000", "garbage", t + 1h));
}
