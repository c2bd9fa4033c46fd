#pragma once

// The coordinator's book of the cluster: which nodes are alive, which node
// holds the lease of which profile, and the placement rules. Plain data and
// decisions, no actors and no I/O, so that the rules are unit-tested alone.

#include "messages/cluster.hpp"
#include "messages/cluster_observe.hpp"
#include "messages/profile_status.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm {

struct cluster_rules {
  /// How long a lease (and a node's liveness) lasts after its last renewal.
  std::chrono::steady_clock::duration lease = std::chrono::seconds{15};
  /// All nodes see the same HERMES_HOME: a lost node's profiles may start elsewhere.
  bool shared_storage = false;
  /// No profile is placed this soon after the coordinator started, so that
  /// the nodes started with it can join first and load is balanced at once.
  std::chrono::steady_clock::duration settle = std::chrono::seconds{2};
  /// A carry of a store (storage not shared) not acknowledged by the target
  /// within this time is given up: the profile goes back to its source.
  std::chrono::steady_clock::duration carry_limit = std::chrono::minutes{2};
};

/// What happened to the leases since the coordinator started (the cluster metrics).
struct cluster_counts {
  uint64_t grants = 0;     ///< leases granted (each a new epoch)
  uint64_t failovers = 0;  ///< profiles taken from a lost node to be placed again
  uint64_t nodes_lost = 0; ///< nodes declared lost
  uint64_t moves = 0;      ///< profiles withdrawn from a live node to run on another
};

/// Where a notification for a profile should go.
struct notify_route {
  bool known = false; ///< some node offers the profile
  std::string node;   ///< the live node holding its lease; empty: none now
  std::string why;    ///< when `node` is empty: why (status text)
};

class cluster_table {
public:
  using clock = std::chrono::steady_clock;

  cluster_table(cluster_rules rules, clock::time_point started);

  /// A node joined (again): what it can serve. A rejoining node keeps its leases.
  /// Without shared storage, a node that has a profile's store becomes where the
  /// profile runs unless another node is known to have it; that conflict is
  /// returned, one sentence each, for the log.
  std::vector<std::string> node_joined(const std::string& node, std::vector<profile_offer> offers,
                                       clock::time_point now);

  /// A node renewed: it is alive until now + lease, and runs these profiles.
  void node_renewed(const std::string& node, std::vector<profile_status> running,
                    clock::time_point now);

  /// Whether the node has joined and its lease has not run out.
  [[nodiscard]] bool alive(const std::string& node, clock::time_point now) const;

  /// The leases a node holds (including one being revoked: it must stop it).
  [[nodiscard]] std::vector<lease_grant> grants_of(const std::string& node) const;

  /// Applies the rules: drops leases of lost nodes (shared storage) or marks
  /// their profiles waiting, finishes revocations, places free profiles
  /// (pin first, else least loaded), and starts at most one rebalancing move.
  /// Returns what happened, one sentence each, for the log.
  std::vector<std::string> place(clock::time_point now);

  /// `hermes-matrix move`: withdraws the profile from its node (which drains it)
  /// and places it on `node` once released, carrying its store there first when
  /// storage is not shared. Needs a live target that offers the profile, no pin
  /// to another node and no other move under way. The error text says why not;
  /// empty means the move started.
  std::string move(const std::string& profile, const std::string& node, clock::time_point now);

  /// The profiles the node must drain before it stops them (withdrawn for a move).
  [[nodiscard]] std::vector<std::string> drains_of(const std::string& node) const;

  /// The stores the node must send to another node (it holds them, stopped).
  [[nodiscard]] std::vector<store_order> carries_of(const std::string& node) const;

  /// The target of the carry of `profile` under `epoch` that node `from` was
  /// ordered to send; empty when there is no such carry (stale or forged).
  [[nodiscard]] std::string carry_target(const std::string& profile, uint64_t epoch,
                                         const std::string& from) const;

  /// The target verified and put the carried store in place: it holds the
  /// profile's lease (under the carry's epoch) and its store from now on.
  /// False when the carry is no longer the current one.
  bool carried(const std::string& profile, uint64_t epoch, clock::time_point now);

  /// The carry failed: the profile goes back to the node that has its store.
  void carry_failed(const std::string& profile, uint64_t epoch, const std::string& why,
                    clock::time_point now, std::vector<std::string>& events);

  /// Every profile of the cluster, each with the node serving it.
  [[nodiscard]] std::vector<profile_status> status(clock::time_point now) const;

  /// Every node that joined, in name order: alive, leases held, time since renewal.
  [[nodiscard]] std::vector<node_view> nodes(clock::time_point now) const;

  /// The node a notification for `profile` goes to: the live holder of its lease,
  /// unless the lease is being withdrawn (a move).
  [[nodiscard]] notify_route route(const std::string& profile, clock::time_point now) const;

  [[nodiscard]] const cluster_counts& counts() const { return counts_; }

private:
  struct node_entry {
    std::vector<profile_offer> offers;
    std::map<std::string, profile_status> running; // by profile
    clock::time_point renewed;
    uint64_t renewals = 0; // counts renewals, to tell which ones know of a grant
    bool lost = false; // reported once
  };
  struct profile_entry {
    std::string pin;
    std::string holder;      // node holding the lease, empty: free
    std::string last_holder; // where its store is when storage is not shared
    uint64_t epoch = 0;
    /// The holder's renewal count when the lease was granted: only a renewal sent
    /// after the node learnt of the grant (two later) can report it stopped.
    uint64_t granted_at_renewal = 0;
    bool revoking = false;   // holder must stop it; placed again once it did
    std::string waiting_for; // why it is not placed (status text)
    std::string move_to;     // `move`: the node to place it on next
    // Carrying the store from last_holder to carry_to (storage not shared); the
    // profile is placed nowhere until the target has it or the carry failed.
    std::string carry_to;
    uint64_t carry_epoch = 0;
    clock::time_point carry_started{};
    /// When a carry of this profile last failed: no automatic move for a while.
    std::optional<clock::time_point> carry_failed_at;
  };

  bool offers(const std::string& node, const std::string& profile) const;
  bool runs_elsewhere(const std::string& profile, const std::string& except,
                      clock::time_point now) const;
  size_t load(const std::string& node) const;
  std::string choose_node(const std::string& profile, profile_entry& p, clock::time_point now);
  void rebalance(clock::time_point now, std::vector<std::string>& events);
  bool move_under_way() const;
  bool carry_failed_lately(const profile_entry& p, clock::time_point now) const;
  /// Starts carrying the store to `target` when it is elsewhere; false when the
  /// profile can be placed on `target` at once.
  bool start_carry(const std::string& name, profile_entry& p, const std::string& target,
                   clock::time_point now, std::vector<std::string>& events);
  /// Gives up a carry whose source or target is gone or that took too long.
  void check_carry(const std::string& name, profile_entry& p, clock::time_point now,
                   std::vector<std::string>& events);

  cluster_rules rules_;
  clock::time_point started_;
  uint64_t next_epoch_ = 1;
  cluster_counts counts_;
  std::map<std::string, node_entry> nodes_;
  std::map<std::string, profile_entry> profiles_;
};

} // namespace hm
