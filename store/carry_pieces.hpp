#pragma once

// What a carried store is made of when it crosses from one node to another: pieces of
// its files and the manifest the target verifies them against. Plain values; their
// `inspect` (for sending them between nodes) is in messages/store_carry.hpp. The bytes
// are pickles and keys: never logged, only their sizes.

#include <cstdint>
#include <string>
#include <vector>

namespace hm {

/// One piece (at most store_piece_max bytes) of one file of the store.
struct store_piece {
  std::string profile;
  uint64_t epoch = 0;
  std::string file; // a plain file name inside the store directory
  uint64_t offset = 0;
  std::string bytes;
};

/// One file of a carried store: its name, size and SHA-256 (hex).
struct store_file {
  std::string name;
  uint64_t size = 0;
  std::string sha256;
};

/// The end of a carry: every file the store has, for the target to verify
/// before it puts the store in place.
struct store_manifest {
  std::string profile;
  uint64_t epoch = 0;
  std::vector<store_file> files;
};

} // namespace hm
