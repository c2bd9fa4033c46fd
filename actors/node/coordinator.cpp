#include "actors/node/coordinator.hpp"

#include "cluster/auth.hpp"
#include "cluster/metrics.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <variant>

namespace hm {

namespace {

struct coordinator_state {
  std::optional<cluster_table> table;
  coordinator_settings settings;
  std::map<std::string, std::string> nonces;      // node name -> challenge handed out
  std::map<std::string, caf::actor_addr> joined;  // node name -> its node actor
  // observe: where notifications and metric requests for a joined node go.
  std::map<std::string, cluster_node_actor> node_handles;
  uint64_t renewals_refused = 0;
  static inline const char* name = "coordinator";
};

using coordinator_pointer = coordinator_actor::stateful_pointer<coordinator_state>;

/// Node names appear in logs and status: one short word.
bool valid_node_name(const std::string& name) {
  return !name.empty() && name.size() <= 64
         && std::all_of(name.begin(), name.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '_' || c == '.';
            });
}

std::string peer_of(coordinator_pointer self) {
  auto& sender = self->current_sender();
  return sender ? to_string(sender->node()) : std::string{"(anonymous)"};
}

/// Whether the current message comes from this process or from the joined node `name`.
bool sender_is(coordinator_pointer self, const std::string& name) {
  auto& sender = self->current_sender();
  if (!sender)
    return false;
  auto i = self->state.joined.find(name);
  return i != self->state.joined.end() && i->second == sender->address();
}

bool sender_is_trusted(coordinator_pointer self) {
  auto& sender = self->current_sender();
  if (!sender)
    return false;
  if (sender->node() == self->node())
    return true;
  auto addr = sender->address();
  return std::any_of(self->state.joined.begin(), self->state.joined.end(),
                     [&](auto& kv) { return kv.second == addr; });
}

/// Whether a command-line client proved the secret for the nonce hello gave it.
bool client_proven(coordinator_pointer self, const std::string& client, const std::string& proof,
                   const char* what) {
  auto& st = self->state;
  auto i = st.nonces.find(client);
  bool proven = i != st.nonces.end() && proof_matches(st.settings.secret, client, i->second, proof);
  if (i != st.nonces.end())
    st.nonces.erase(i); // a challenge is good for one answer
  if (!proven)
    spdlog::warn("cluster: refused a {} request of '{}' from {}: wrong cluster secret", what,
                 client, peer_of(self));
  return proven;
}

// -- observe: the admin API and /metrics of the whole cluster -------------------------

/// How long a scrape waits for each node's snapshot: a node that does not answer
/// (frozen, cut off) is left out of that scrape rather than holding it.
constexpr auto node_scrape_timeout = std::chrono::seconds{1};
/// A notification waits for the profile's cell, which may first ask the homeserver.
constexpr auto node_notify_timeout = std::chrono::seconds{15};

/// Whether the current message comes from an actor of this process (the admin API,
/// the metrics endpoint): those requests carry no proof of the secret.
bool sender_is_local(coordinator_pointer self) {
  auto& sender = self->current_sender();
  return sender && sender->node() == self->node();
}

/// One scrape's answers from the nodes, delivered once the last one is in.
struct metrics_gather {
  caf::typed_response_promise<std::vector<metrics_snapshot>> promise;
  cluster_facts facts;
  std::vector<metrics_snapshot> snapshots;
  size_t pending = 0;

  void one_done() {
    if (--pending == 0)
      deliver();
  }
  void deliver() {
    snapshots.push_back(cluster_snapshot(facts));
    promise.deliver(std::move(snapshots));
  }
};

caf::result<std::vector<metrics_snapshot>> gather_metrics(coordinator_pointer self) {
  auto& st = self->state;
  auto g = std::make_shared<metrics_gather>();
  g->promise = self->make_response_promise<std::vector<metrics_snapshot>>();
  g->facts.nodes = st.table->nodes(self->clock().now());
  g->facts.counts = st.table->counts();
  g->facts.renewals_refused = st.renewals_refused;
  std::vector<std::pair<std::string, cluster_node_actor>> asked;
  for (auto& n : g->facts.nodes)
    if (auto i = st.node_handles.find(n.name); n.alive && i != st.node_handles.end())
      asked.emplace_back(n.name, i->second);
  g->pending = asked.size() + 1; // +1: delivered only after every request is sent
  for (auto& [name, node] : asked)
    self->request(node, node_scrape_timeout, atom::metrics_v)
      .then(
        [g, name = name](metrics_snapshot& snap) {
          snap.node = name; // the node we asked, whatever it calls itself
          g->facts.answered.insert(name);
          g->snapshots.push_back(std::move(snap));
          g->one_done();
        },
        [g](const caf::error&) { g->one_done(); });
  auto promise = g->promise;
  g->one_done();
  return promise;
}

/// Forwards a notification or a verification action to the node holding the profile's
/// lease; its answer, or why there is none.
template <class Atom, class Message>
caf::result<std::string> forward_notification(coordinator_pointer self, Atom what,
                                              const std::string& profile, Message n) {
  auto& st = self->state;
  auto route = st.table->route(profile, self->clock().now());
  if (!route.known)
    return make_error(errc::unknown_profile, "no node of the cluster offers a profile named "
                                               + profile);
  auto i = st.node_handles.find(route.node);
  if (route.node.empty() || i == st.node_handles.end())
    return make_error(errc::transient, "profile " + profile + " is not running on any node: "
                                         + (route.why.empty() ? "its node has not joined"
                                                              : route.why));
  auto rp = self->make_response_promise<std::string>();
  self->request(i->second, node_notify_timeout, what, profile, std::move(n))
    .then([rp](std::string& txn_id) mutable { rp.deliver(std::move(txn_id)); },
          [rp, node = route.node](caf::error& err) mutable {
            if (err == caf::sec::request_timeout)
              err = make_error(errc::transient, "node " + node + " did not answer in time");
            rp.deliver(std::move(err));
          });
  return rp;
}

void place(coordinator_pointer self) {
  for (auto& event : self->state.table->place(self->clock().now()))
    spdlog::info("cluster: {}", event);
}

// -- carrying a store from node to node (storage not shared) --------------------

/// The joined node that sent the current message, or empty.
std::string sending_node(coordinator_pointer self) {
  auto& sender = self->current_sender();
  if (!sender)
    return {};
  for (auto& [name, addr] : self->state.joined)
    if (addr == sender->address())
      return name;
  return {};
}

/// The node a piece of carry (profile, epoch) goes to: only from the node that
/// was ordered to send it, only to a joined target.
std::variant<cluster_node_actor, caf::error>
carry_route(coordinator_pointer self, const std::string& profile, uint64_t epoch) {
  auto from = sending_node(self);
  if (from.empty())
    return make_error(errc::refused, "not joined: join the cluster first");
  auto to = self->state.table->carry_target(profile, epoch, from);
  auto i = self->state.joined.find(to);
  if (to.empty() || i == self->state.joined.end())
    return make_error(errc::refused, "no carry of " + profile + " from node " + from
                                       + " under epoch " + std::to_string(epoch));
  auto target = caf::actor_cast<cluster_node_actor>(caf::actor_cast<caf::strong_actor_ptr>(i->second));
  if (!target)
    return make_error(errc::unavailable, "node " + to + " is not connected");
  return target;
}

void give_up_carry(coordinator_pointer self, const std::string& profile, uint64_t epoch,
                   const caf::error& err) {
  std::vector<std::string> events;
  self->state.table->carry_failed(profile, epoch, error_text(err), self->clock().now(), events);
  for (auto& event : events)
    spdlog::warn("cluster: {}", event);
}

caf::result<atom::ok> pass_piece(coordinator_pointer self, store_piece piece) {
  auto route = carry_route(self, piece.profile, piece.epoch);
  if (auto* err = std::get_if<caf::error>(&route))
    return std::move(*err);
  auto rp = self->make_response_promise<atom::ok>();
  auto profile = piece.profile;
  auto epoch = piece.epoch;
  self->request(std::get<cluster_node_actor>(route), std::chrono::seconds{30}, std::move(piece))
    .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
          [self, rp, profile, epoch](caf::error& err) mutable {
            give_up_carry(self, profile, epoch, err);
            rp.deliver(std::move(err));
          });
  return rp;
}

caf::result<atom::ok> pass_manifest(coordinator_pointer self, store_manifest m) {
  auto route = carry_route(self, m.profile, m.epoch);
  if (auto* err = std::get_if<caf::error>(&route))
    return std::move(*err);
  // Before the promise: making it takes the sender from the current message.
  auto to = self->state.table->carry_target(m.profile, m.epoch, sending_node(self));
  auto rp = self->make_response_promise<atom::ok>();
  auto profile = m.profile;
  auto epoch = m.epoch;
  self->request(std::get<cluster_node_actor>(route), std::chrono::seconds{60}, std::move(m))
    .then(
      [self, rp, profile, epoch, to](atom::ok) mutable {
        if (!self->state.table->carried(profile, epoch, self->clock().now())) {
          rp.deliver(make_error(errc::unavailable, "the carry of " + profile
                                                     + " was given up meanwhile"));
          return;
        }
        spdlog::info("cluster: profile {} placed on node {} (lease epoch {}, its store carried "
                     "there)", profile, to, epoch);
        rp.deliver(atom::ok_v);
      },
      [self, rp, profile, epoch](caf::error& err) mutable {
        give_up_carry(self, profile, epoch, err);
        rp.deliver(std::move(err));
      });
  return rp;
}

caf::timespan tick_interval(const cluster_rules& rules) {
  auto t = std::chrono::duration_cast<caf::timespan>(rules.lease / 5);
  return std::clamp(t, caf::timespan{std::chrono::milliseconds{100}},
                    caf::timespan{std::chrono::seconds{1}});
}

coordinator_actor::behavior_type coordinator(coordinator_pointer self,
                                             coordinator_settings settings) {
  self->state.table.emplace(settings.rules, self->clock().now());
  self->state.settings = std::move(settings);
  self->send(self, atom::internal_v, atom::tick_v);
  return {
    [self](atom::hello, const std::string& node) -> caf::result<std::string> {
      if (!valid_node_name(node)) {
        spdlog::warn("cluster: refused a node from {}: invalid node name", peer_of(self));
        return make_error(errc::refused, "invalid node name: use letters, digits, '-', '_' "
                                         "and '.', at most 64");
      }
      auto nonce = make_nonce();
      // Challenges nobody answers must not pile up: a real node answers at once.
      if (self->state.nonces.size() >= 1024)
        self->state.nonces.clear();
      self->state.nonces[node] = nonce;
      return nonce;
    },
    [self](atom::nodejoin, const std::string& node, const std::string& proof,
           std::vector<profile_offer> offers) -> caf::result<atom::ok> {
      auto& st = self->state;
      auto i = st.nonces.find(node);
      bool proven = i != st.nonces.end() && proof_matches(st.settings.secret, node, i->second, proof);
      if (i != st.nonces.end())
        st.nonces.erase(i); // a challenge is good for one answer
      if (!proven) {
        spdlog::warn("cluster: refused node '{}' from {}: wrong cluster secret", node,
                     peer_of(self));
        return make_error(errc::refused, "wrong cluster secret");
      }
      st.joined[node] = self->current_sender()->address();
      st.node_handles[node] = caf::actor_cast<cluster_node_actor>(self->current_sender());
      spdlog::info("cluster: node {} joined, offering {} profile(s)", node, offers.size());
      for (auto& warning : st.table->node_joined(node, std::move(offers), self->clock().now()))
        spdlog::warn("cluster: {}", warning);
      return atom::ok_v;
    },
    [self](atom::renew, const std::string& node,
           std::vector<profile_status> running) -> caf::result<lease_set> {
      if (!sender_is(self, node)) {
        ++self->state.renewals_refused;
        return make_error(errc::refused, "not joined: join the cluster first");
      }
      auto& table = *self->state.table;
      table.node_renewed(node, std::move(running), self->clock().now());
      place(self);
      return lease_set{table.grants_of(node),
                       std::chrono::duration_cast<caf::timespan>(self->state.settings.rules.lease),
                       table.drains_of(node), table.carries_of(node)};
    },
    [self](atom::status) -> caf::result<std::vector<profile_status>> {
      if (!sender_is_trusted(self))
        return make_error(errc::refused, "not joined: join the cluster first");
      return self->state.table->status(self->clock().now());
    },
    [self](atom::status, const std::string& client,
           const std::string& proof) -> caf::result<std::vector<profile_status>> {
      if (!client_proven(self, client, proof, "status"))
        return make_error(errc::refused, "wrong cluster secret");
      return self->state.table->status(self->clock().now());
    },
    [self](atom::move, const std::string& profile, const std::string& node,
           const std::string& client, const std::string& proof) -> caf::result<std::string> {
      if (!client_proven(self, client, proof, "move"))
        return make_error(errc::refused, "wrong cluster secret");
      auto why_not = self->state.table->move(profile, node, self->clock().now());
      if (!why_not.empty())
        return make_error(errc::bad_config, "cannot move " + profile + ": " + why_not);
      spdlog::info("cluster: moving profile {} to node {} (asked by hermes-matrix move)", profile,
                   node);
      place(self);
      return "moving " + profile + " to node " + node;
    },
    [self](atom::internal, atom::tick) {
      place(self);
      self->delayed_send(self, tick_interval(self->state.settings.rules), atom::internal_v,
                         atom::tick_v);
    },
    [self](store_piece& piece) { return pass_piece(self, std::move(piece)); },
    [self](store_manifest& m) { return pass_manifest(self, std::move(m)); },
    [self](atom::nodes) -> caf::result<std::vector<node_view>> {
      if (!sender_is_local(self))
        return make_error(errc::refused, "only the coordinator's own admin API asks this");
      return self->state.table->nodes(self->clock().now());
    },
    [self](atom::notify, const std::string& profile,
           notification& n) -> caf::result<std::string> {
      if (!sender_is_local(self))
        return make_error(errc::refused, "only the coordinator's own admin API asks this");
      return forward_notification(self, atom::notify_v, profile, std::move(n));
    },
    [self](atom::verify, const std::string& profile,
           verification_action& a) -> caf::result<std::string> {
      if (!sender_is_local(self))
        return make_error(errc::refused, "only the coordinator's own admin API asks this");
      return forward_notification(self, atom::verify_v, profile, std::move(a));
    },
    [self](atom::metrics) -> caf::result<std::vector<metrics_snapshot>> {
      if (!sender_is_local(self))
        return make_error(errc::refused, "only the coordinator's own metrics endpoint asks this");
      return gather_metrics(self);
    },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_settings settings) {
  return sys.spawn(coordinator, std::move(settings));
}

} // namespace hm
