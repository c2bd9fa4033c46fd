#pragma once

// What the coordinator's cluster port lets through before CAF sees it, sans I/O.
//
// CAF 0.17's BASP broker trusts the first header a peer sends: it sizes its
// read buffer to whatever payload length that header announces (the stream
// resizes a std::vector, zero-filling it). Garbage whose bytes read as "1.4 GB
// follow" makes the one multiplexer thread of the process allocate and zero
// that much: every connection (the nodes' lease renewals included) waits
// meanwhile, about a second per GB measured here (bench/bad_peers.py), and the
// memory stays taken until the connection timeout closes the connection; a few
// such connections exhaust the host's memory. Reads themselves never block, so
// the rest of the wait is that connection's alone. CAF also drops bad
// connections silently: Debian's build has its logger compiled out.
//
// So the cluster port screens each connection (actors/node/cluster_door.cpp): the
// first header must be the client handshake a CAF 0.17 node sends, with a small
// payload; later messages are bounded too; and each refused connection is
// logged once, through a rate limit so that a flood cannot fill the disk.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace hm {

/// BASP 0.17: operation, 2 padding bytes, flags, payload length (32 bit),
/// operation data (64 bit), source and destination actor (64 bit each).
inline constexpr size_t basp_header_size = 32;

/// A client handshake carries the node id (a few dozen bytes).
inline constexpr size_t max_handshake_payload = 4096;

/// Any later message: lease renewals and status lists are small; nothing the
/// cluster sends comes near this.
inline constexpr size_t max_cluster_message = 64 * 1024 * 1024;

/// Why the first header a connecting peer sent is not the client handshake of
/// a CAF 0.17 node (with a payload of at most `max_payload`); empty if it is.
[[nodiscard]] std::string client_handshake_problem(const void* header, size_t size,
                                                   size_t max_payload = max_handshake_payload);

/// One log line per refused connection, at most `burst` at once and then one
/// per `refill`; what it holds back is counted and told with the next line.
class bad_peer_log {
public:
  using clock = std::chrono::steady_clock;

  bad_peer_log(size_t burst, clock::duration refill);

  /// The line to log for a refused connection from `peer`, or nullopt while
  /// the rate limit holds lines back.
  [[nodiscard]] std::optional<std::string> admit(const std::string& peer, const std::string& why,
                                                 clock::time_point now);

  /// "N more were not logged", once a line may be logged again; else nullopt.
  [[nodiscard]] std::optional<std::string> held_back(clock::time_point now);

private:
  bool take(clock::time_point now);

  size_t burst_;
  clock::duration refill_;
  double tokens_;
  clock::time_point last_;
  bool started_ = false;
  uint64_t held_ = 0;
};

} // namespace hm
