#pragma once

// Messages between the nodes of a cluster. They cross the network (CAF's
// middleman), so every field is a plain serializable value with `inspect`. No CAF
// header: the cluster's decisions (cluster/) use them without CAF.

#include "messages/store_carry.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hm {

/// A profile a node can serve (it sees the profile's directory), the node the
/// profile is pinned to by HERMES_MATRIX_NODE (empty: anywhere), and whether
/// the profile's store (its device and keys) is on this node.
struct profile_offer {
  std::string profile;
  std::string pinned_node;
  bool has_store = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_offer& x) {
  return f(x.profile, x.pinned_node, x.has_store);
}

/// The right to serve one profile. A new epoch is issued every time the
/// profile is granted anew, so a stale holder can be told from the current one.
struct lease_grant {
  std::string profile;
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_grant& x) {
  return f(x.profile, x.epoch);
}

/// The coordinator's answer to a renewal: every lease the node holds now. They
/// are valid for `valid_for`, counted by the node from when it sent the
/// renewal (so the node's view always ends before the coordinator's).
/// `drain`: profiles whose lease is withdrawn for a move: the node lets their
/// in-flight replies finish, then stops them (any other withdrawn profile stops
/// at once). `carry`: stores this node has and must send to another node.
struct lease_set {
  std::vector<lease_grant> grants;
  std::chrono::nanoseconds valid_for{0};
  std::vector<std::string> drain;
  std::vector<store_order> carry;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_set& x) {
  return f(x.grants, x.valid_for, x.drain, x.carry);
}

} // namespace hm
