#include "matrix/txn_id.hpp"

#include <cstdint>

namespace hm::matrix {

namespace {

// FNV-1a, 64 bit. Not cryptographic, and need not be: txnIds only have to differ for
// different sources of one device. Two passes with different offset bases (the second
// also folds in the length) give 128 bits, so accidental collisions, which would make
// the homeserver swallow a message as a "retransmission", are out of reach.
std::uint64_t fnv1a64(std::string_view s, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4)
    out.push_back(hex[(v >> shift) & 0xF]);
}

} // namespace

std::string derive_txn_id(std::string_view source, unsigned part, std::string_view kind) {
  std::string out = "hm.";
  append_hex(out, fnv1a64(source, 0xcbf29ce484222325ULL));
  append_hex(out, fnv1a64(source, 0x84222325cbf29ce4ULL ^ source.size()));
  out += '.';
  out += std::to_string(part);
  out += '.';
  std::size_t kept = 0;
  for (char c : kind) {
    if (kept == 32)
      break;
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    out.push_back(safe ? c : '_');
    ++kept;
  }
  if (kept == 0)
    out += "send";
  return out;
}

std::string reply_txn_id(std::string_view source_event_id) {
  return derive_txn_id(source_event_id, 0, "reply");
}

std::string done_txn_id(std::string_view source_event_id) {
  return derive_txn_id(source_event_id, 0, "react-done");
}

} // namespace hm::matrix
