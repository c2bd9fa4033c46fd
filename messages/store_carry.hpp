#pragma once

// Carrying a profile's store from one node to another when storage is not
// shared (`hermes-matrix move`, rebalancing). The pieces cross the network
// source node -> coordinator -> target node; every field is a plain value.
// The bytes are pickles and keys: never logged, only their sizes. The pieces and the
// manifest are store/'s plain structs (store/carry_pieces.hpp); here is how they cross.

#include "store/carry_pieces.hpp"

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
  return f(x.profile, x.epoch, x.to);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_piece& x) {
  return f(x.profile, x.epoch, x.file, x.offset, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_file& x) {
  return f(x.name, x.size, x.sha256);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_manifest& x) {
  return f(x.profile, x.epoch, x.files);
}

} // namespace hm
