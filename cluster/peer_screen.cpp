#include "cluster/peer_screen.hpp"

#include <array>

namespace hm {

namespace {

uint64_t big_endian(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

constexpr unsigned char client_handshake = 0x01; // caf::io::basp::message_type

} // namespace

std::string client_handshake_problem(const void* header, size_t size, size_t max_payload) {
  if (size != basp_header_size)
    return "sent " + std::to_string(size) + " bytes where a BASP header has "
           + std::to_string(basp_header_size);
  auto* p = static_cast<const unsigned char*>(header);
  auto operation = p[0];
  auto flags = p[3];
  auto payload = big_endian(p + 4, 4);
  auto operation_data = big_endian(p + 8, 8);
  auto source_actor = big_endian(p + 16, 8);
  auto dest_actor = big_endian(p + 24, 8);
  // A CAF 0.17 client writes exactly this header (basp::instance::write_client_handshake).
  if (operation != client_handshake || flags != 0 || operation_data != 0 || source_actor != 0
      || dest_actor != 0)
    return "sent bytes that are not a cluster handshake (garbage, or not a hermes-matrix node)";
  if (payload == 0)
    return "sent a cluster handshake without its node id";
  if (payload > max_payload)
    return "announced a handshake of " + std::to_string(payload) + " bytes (at most "
           + std::to_string(max_payload) + ")";
  return {};
}

bad_peer_log::bad_peer_log(size_t burst, clock::duration refill)
  : burst_(burst), refill_(refill), tokens_(static_cast<double>(burst)) {
}

bool bad_peer_log::take(clock::time_point now) {
  if (!started_) {
    started_ = true;
    last_ = now;
  }
  if (now > last_ && refill_.count() > 0) {
    tokens_ += std::chrono::duration<double>(now - last_) / refill_;
    if (tokens_ > static_cast<double>(burst_))
      tokens_ = static_cast<double>(burst_);
  }
  last_ = now;
  if (tokens_ < 1.0)
    return false;
  tokens_ -= 1.0;
  return true;
}

std::optional<std::string> bad_peer_log::admit(const std::string& peer, const std::string& why,
                                               clock::time_point now) {
  if (!take(now)) {
    ++held_;
    return std::nullopt;
  }
  auto line = "cluster: refused a connection from " + peer + ": " + why;
  if (held_ > 0) {
    line += " (and " + std::to_string(held_) + " more refused connections not logged)";
    held_ = 0;
  }
  return line;
}

std::optional<std::string> bad_peer_log::held_back(clock::time_point now) {
  if (held_ == 0 || !take(now))
    return std::nullopt;
  auto line = "cluster: " + std::to_string(held_)
              + " more refused connections were not logged (rate limit)";
  held_ = 0;
  return line;
}

} // namespace hm
