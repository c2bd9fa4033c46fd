#pragma once

// Who runs which profile, in etcd, without I/O. Under /hermes-matrix/<cluster>/:
//
//   nodes/<node>     the node's record (JSON: the profiles it offers), bound to its lease:
//                    it vanishes when the node stops keeping the lease alive
//   owners/<profile> the node that runs the profile (the node's name), bound to that
//                    node's lease; created only by a transaction that succeeds when the
//                    key does not exist, so exactly one node owns a profile at a time
//
// Ownership is the transaction, not the placement: `place` says where a profile should
// run (every node computes it alike from the same records), but a node runs a profile
// only after its own claim succeeded, and only while its lease lives.
//
// The EPOCH of an ownership is the owner key's create_revision. etcd's revision is one
// counter for the whole key space, kept in every member's data and raised by every
// write; it never goes back, across restarts of any member or of every node. A claim
// creates the key anew (it only succeeds when the key is absent), so every new
// ownership gets a revision above every earlier one; the key's mod_revision would not
// do, and a counter of our own would need its own transaction. (It would restart only if
// etcd's data were wiped, which is a new cluster; stores must then be fenced anew.)

#include "cluster/etcd_requests.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hm {

/// The keys of one cluster (its name: letters, digits, '-', '_', '.').
class cluster_keys {
public:
  /// Refuses an empty name or one with other characters (`why` says so).
  [[nodiscard]] static std::optional<cluster_keys> make(std::string_view cluster,
                                                        std::string& why);

  [[nodiscard]] std::string root() const { return "/hermes-matrix/" + cluster_ + "/"; }
  [[nodiscard]] std::string nodes_prefix() const { return root() + "nodes/"; }
  [[nodiscard]] std::string owners_prefix() const { return root() + "owners/"; }
  [[nodiscard]] std::string node_key(std::string_view node) const;
  [[nodiscard]] std::string owner_key(std::string_view profile) const;

private:
  explicit cluster_keys(std::string cluster) : cluster_(std::move(cluster)) {}
  std::string cluster_;
};

/// A profile a node can serve, as the node's record in etcd says.
struct offered_profile {
  std::string profile;
  std::string pin;        ///< HERMES_MATRIX_NODE; empty: any node
  bool has_store = false; ///< its store (device, keys) is on this node
};

/// What a node publishes about itself.
struct node_record {
  std::string node;
  std::vector<offered_profile> offers;
  std::int64_t lease = 0; ///< from etcd, not from the value
};

/// The current owner of a profile.
struct ownership {
  std::string profile;
  std::string node;
  std::int64_t epoch = 0; ///< the owner key's create_revision
  std::int64_t lease = 0;
};

/// Everything under the cluster's root at one revision.
struct cluster_view {
  std::int64_t revision = 0;
  std::map<std::string, node_record> nodes; ///< by node name
  std::map<std::string, ownership> owners;  ///< by profile
  /// Keys that could not be read (a foreign or broken value), one sentence each.
  std::vector<std::string> unreadable;
};

// ---- membership ----

/// Publishes the node's record, bound to its lease.
[[nodiscard]] etcd::request join(const cluster_keys& keys, const node_record& self,
                                 std::int64_t lease);
/// The record's value (JSON); exposed for tests.
[[nodiscard]] std::string node_record_value(const node_record& self);

/// Reads nodes and owners in one range (one revision).
[[nodiscard]] etcd::request read_cluster(const cluster_keys& keys);
[[nodiscard]] etcd::result<cluster_view> parse_cluster(const cluster_keys& keys,
                                                       const etcd::answer& a);

// ---- ownership ----

/// Claims `profile` for `node` under `lease`: creates the owner key bound to the lease
/// if it does not exist, and reads the key back either way.
[[nodiscard]] etcd::request claim(const cluster_keys& keys, std::string_view profile,
                                  std::string_view node, std::int64_t lease);

struct claim_result {
  enum class outcome {
    owned,       ///< ours under this lease (created now, or by an earlier claim of ours)
    taken,       ///< another node owns it
    stale_ours,  ///< ours by name but under another lease (before a restart or a lost
                 ///< lease): `take_back` deletes it, then claim again
    vanished,    ///< the key went between the compare and the read (its lease ended):
                 ///< claim again
  };
  outcome result = outcome::taken;
  ownership owner; ///< the key's owner and epoch (for vanished: empty)
};

[[nodiscard]] etcd::result<claim_result> parse_claim(const etcd::answer& a,
                                                     std::string_view profile,
                                                     std::string_view node,
                                                     std::int64_t lease);

/// Deletes an owner key this node holds under an old lease: only while it is still that
/// very key (its create_revision) with this node's name.
[[nodiscard]] etcd::request take_back(const cluster_keys& keys, std::string_view profile,
                                      std::string_view node, std::int64_t epoch);

/// Gives a profile up (drain, move, shutdown): deletes the owner key only while it is
/// still the ownership of `epoch`.
[[nodiscard]] etcd::request release(const cluster_keys& keys, std::string_view profile,
                                    std::int64_t epoch);

/// For take_back and release: true when the key was deleted, false when it was no
/// longer that ownership (nothing to do).
[[nodiscard]] etcd::result<bool> parse_release(const etcd::answer& a);

// ---- placement ----

/// Where each profile should run, decided alike by every node from the same view:
/// - a profile pinned by HERMES_MATRIX_NODE runs on that node only (and waits for it);
/// - else its current owner keeps it while that node is live and offers it;
/// - else nodes that have its store, if any do; among them (or all that offer it) the
///   one with the fewest profiles, ties broken by a hash of (profile, node) so that
///   profiles spread and every node breaks them the same way.
/// Profiles no live node can take are absent from the result.
[[nodiscard]] std::map<std::string, std::string> place(const cluster_view& view);

} // namespace hm
