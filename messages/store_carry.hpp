#pragma once

// Carrying a profile's store from one node to another when storage is not
// shared (`hermes-matrix move`, rebalancing). The pieces cross the network
// source node -> coordinator -> target node; every field is a plain value.
// The bytes are pickles and keys: never logged, only their sizes.

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hm {

/// The coordinator's order to the node that has a profile's store: send it to
/// node `to`. `epoch` is the lease epoch the target will get for it.
struct store_order {
  std::string profile;
  uint64_t epoch = 0;
  std::string to;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_order& x) {
  return f(caf::meta::type_name("store_order"), x.profile, x.epoch, x.to);
}

/// One piece (at most store_piece_max bytes) of one file of the store.
struct store_piece {
  std::string profile;
  uint64_t epoch = 0;
  std::string file; // a plain file name inside the store directory
  uint64_t offset = 0;
  std::string bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_piece& x) {
  return f(caf::meta::type_name("store_piece"), x.profile, x.epoch, x.file, x.offset, x.bytes);
}

/// One file of a carried store: its name, size and SHA-256 (hex).
struct store_file {
  std::string name;
  uint64_t size = 0;
  std::string sha256;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_file& x) {
  return f(caf::meta::type_name("store_file"), x.name, x.size, x.sha256);
}

/// The end of a carry: every file the store has, for the target to verify
/// before it puts the store in place.
struct store_manifest {
  std::string profile;
  uint64_t epoch = 0;
  std::vector<store_file> files;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_manifest& x) {
  return f(caf::meta::type_name("store_manifest"), x.profile, x.epoch, x.files);
}

} // namespace hm
