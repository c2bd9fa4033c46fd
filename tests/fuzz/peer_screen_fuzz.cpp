// libFuzzer target for the cluster port's screen (cluster/peer_screen): what a peer
// that is not a node may send first, and the rate-limited log of refused peers.
//
// Properties (a violated one aborts): the screen never throws; it lets through only a
// 32-byte client handshake whose announced payload is between 1 and the limit (what
// keeps CAF from allocating what the peer announces); its reasons never quote the
// peer's bytes beyond numbers; the refusal log never writes more lines than its burst
// plus one per refill interval, and counts every line it held back.
//
// Sources: tests/fuzz/peer_screen_fuzz.cpp cluster/peer_screen.cpp. Seeds:
// tests/fuzz/corpus/peer_screen/.

#include "cluster/peer_screen.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

uint64_t announced(const std::uint8_t* p) {
  return (uint64_t{p[4]} << 24) | (uint64_t{p[5]} << 16) | (uint64_t{p[6]} << 8) | p[7];
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t limit = size > 0 ? 1 + data[0] * 16u : hm::max_handshake_payload;
  auto why = hm::client_handshake_problem(data, size, limit);
  if (why.empty()) {
    require(size == hm::basp_header_size, "a header of the wrong size passed");
    require(data[0] == 0x01, "an operation other than the client handshake passed");
    auto payload = announced(data);
    require(payload >= 1 && payload <= limit, "a payload outside 1..limit passed");
  }
  // The log: every input byte is a refused connection a few milliseconds after the last.
  hm::bad_peer_log log{3, std::chrono::seconds{1}};
  hm::bad_peer_log::clock::time_point now{};
  std::size_t written = 0;
  std::uint64_t untold = 0; // held back since the last line written
  for (std::size_t i = 0; i < size; ++i) {
    now += std::chrono::milliseconds{data[i] * 8};
    if (auto line = log.admit("127.0.0.1:" + std::to_string(i), why, now)) {
      ++written;
      require(line->find("127.0.0.1:" + std::to_string(i)) != std::string::npos,
              "a line lost its peer");
      if (untold > 0)
        require(line->find("(and " + std::to_string(untold) + " more") != std::string::npos,
                "a line did not count what was held back before it");
      untold = 0;
    } else {
      ++untold;
    }
  }
  auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
  require(written <= 3 + static_cast<std::size_t>(elapsed_s.count()) + 1,
          "more lines than the rate allows");
  if (untold > 0) {
    auto later = log.held_back(now + std::chrono::seconds{2});
    require(later && later->find(std::to_string(untold) + " more") != std::string::npos,
            "held-back lines were never told");
  }
  return 0;
}
