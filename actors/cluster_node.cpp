#include "actors/cluster_node.hpp"

#include "actors/cluster_auth.hpp"
#include "messages/errors.hpp"
#include "metrics/node_metrics.hpp"
#include "metrics/snapshot.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <map>
#include <set>

namespace hm {

namespace {

/// A profile this node serves under a lease.
struct served_profile {
  supervisor_actor supervisor; // one supervisor per profile: started and stopped alone
  uint64_t epoch = 0;
  bool stopping = false;
  profile_status status;       // as its supervisor last reported it
};

struct cluster_node_state {
  cluster_node_settings settings;
  coordinator_actor local;       // the coordinator in this process, if it is there
  coordinator_actor coordinator; // invalid until connected
  bool connecting = false;
  bool joined = false;
  bool renewing = false;
  bool stopping = false;
  caf::actor_clock::time_point lease_end{}; // every lease of this node ends here
  std::map<std::string, served_profile> served;
  std::string last_problem; // the last connection problem logged (not repeated)
  static inline const char* name = "cluster_node";
};

using node_pointer = cluster_node_actor::stateful_pointer<cluster_node_state>;

bool is_refusal(const caf::error& err) {
  return err.category() == error_category && err.code() == static_cast<uint8_t>(errc::refused);
}

void problem(node_pointer self, const std::string& text) {
  if (text == self->state.last_problem)
    return;
  self->state.last_problem = text;
  spdlog::warn("cluster: node {}: {}", self->state.settings.name, text);
}

const profiles::loaded_profile* loaded(node_pointer self, const std::string& name) {
  for (auto& lp : self->state.settings.profiles)
    if (lp.config.name == name)
      return &lp;
  return nullptr;
}

void start_profile(node_pointer self, const lease_grant& grant) {
  auto* lp = loaded(self, grant.profile);
  if (lp == nullptr || !lp->usable()) {
    problem(self, "granted profile " + grant.profile + ", which this node cannot serve");
    return;
  }
  auto& st = self->state;
  spdlog::info("cluster: node {} serves profile {} (lease epoch {})", st.settings.name,
               grant.profile, grant.epoch);
  served_profile sp;
  sp.epoch = grant.epoch;
  sp.status.profile = grant.profile;
  sp.status.node = st.settings.name;
  sp.supervisor = spawn_supervisor(self->system(), {*lp}, st.settings.policy, st.settings.factory,
                                   st.settings.metrics);
  self->monitor(sp.supervisor);
  st.served.emplace(grant.profile, std::move(sp));
}

void stop_profile(node_pointer self, const std::string& name, served_profile& sp,
                  const std::string& why) {
  if (sp.stopping)
    return;
  spdlog::info("cluster: node {} stops profile {}: {}", self->state.settings.name, name, why);
  sp.stopping = true;
  // The supervisor stops the cell (its work flushed, its store closed) and then itself.
  self->send_exit(sp.supervisor, caf::exit_reason::user_shutdown);
}

/// Makes what runs match the leases held: start the granted, stop the rest.
void apply(node_pointer self, const std::vector<lease_grant>& grants) {
  auto& served = self->state.served;
  for (auto& [name, sp] : served)
    if (std::none_of(grants.begin(), grants.end(),
                     [&](const lease_grant& g) { return g.profile == name; }))
      stop_profile(self, name, sp, "its lease was withdrawn");
  for (auto& g : grants) {
    auto i = served.find(g.profile);
    if (i == served.end())
      start_profile(self, g);
    else if (!i->second.stopping)
      i->second.epoch = g.epoch;
    // A profile still stopping is started again on a later renewal.
  }
}

void drop_coordinator(node_pointer self) {
  if (self->state.coordinator)
    self->demonitor(self->state.coordinator.address());
  self->state.coordinator = self->state.local;
  self->state.joined = false;
}

/// Partition safety: without a renewed lease nothing runs, whatever the cause.
void enforce_lease(node_pointer self) {
  if (self->clock().now() < self->state.lease_end)
    return;
  for (auto& [name, sp] : self->state.served)
    stop_profile(self, name, sp, "its lease ran out before it could be renewed");
}

void renew(node_pointer self) {
  auto& st = self->state;
  st.renewing = true;
  auto sent = self->clock().now();
  std::vector<profile_status> running;
  for (auto& [name, sp] : st.served)
    running.push_back(sp.status);
  self->request(st.coordinator, st.settings.renew_every * 2, atom::renew_v, st.settings.name,
                std::move(running))
    .then(
      [self, sent](const lease_set& leases) {
        auto& ns = self->state;
        ns.renewing = false;
        ns.last_problem.clear();
        // Counted from when the renewal left, so it ends before the coordinator's view.
        ns.lease_end = sent + leases.valid_for;
        self->delayed_send(self, ns.lease_end - self->clock().now(), atom::deadline_v);
        if (!ns.stopping)
          apply(self, leases.grants);
      },
      [self](const caf::error& err) {
        self->state.renewing = false;
        if (auto& m = self->state.settings.metrics; m && m->lease_renewals_failed())
          m->lease_renewals_failed()->Increment();
        problem(self, "renewing the leases failed: " + error_text(err));
        if (is_refusal(err))
          self->state.joined = false; // the coordinator forgot us (restarted): join again
      });
}

void join(node_pointer self) {
  auto& st = self->state;
  st.connecting = true;
  std::vector<profile_offer> offers;
  for (auto& lp : st.settings.profiles)
    if (lp.usable())
      offers.push_back({lp.config.name, lp.config.node});
  auto coordinator = st.coordinator;
  auto fail = [self](const caf::error& err) {
    self->state.connecting = false;
    if (is_refusal(err)) {
      spdlog::error("cluster: the coordinator refused node {}: {}", self->state.settings.name,
                    error_text(err));
      if (self->state.settings.refused)
        self->state.settings.refused(error_text(err));
      return;
    }
    problem(self, "joining failed: " + error_text(err));
    drop_coordinator(self);
  };
  self->request(coordinator, std::chrono::seconds{10}, atom::hello_v, st.settings.name)
    .then(
      [self, coordinator, offers, fail](const std::string& nonce) mutable {
        auto& ns = self->state;
        auto proof = cluster_proof(ns.settings.secret, ns.settings.name, nonce);
        self->request(coordinator, std::chrono::seconds{10}, atom::nodejoin_v, ns.settings.name,
                      proof, std::move(offers))
          .then(
            [self](atom::ok) {
              auto& js = self->state;
              js.connecting = false;
              js.joined = true;
              js.last_problem.clear();
              spdlog::info("cluster: node {} joined the cluster", js.settings.name);
              renew(self);
            },
            fail);
      },
      fail);
}

void connect(node_pointer self) {
  auto& st = self->state;
  if (st.local) {
    st.coordinator = st.local;
    join(self);
    return;
  }
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.settings.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  self->request(mm, std::chrono::seconds{10}, caf::connect_atom::value, st.settings.host,
                st.settings.port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        auto& ns = self->state;
        if (!ptr) {
          ns.connecting = false;
          problem(self, "nothing is published on the coordinator's port");
          return;
        }
        ns.coordinator = caf::actor_cast<coordinator_actor>(std::move(ptr));
        self->monitor(ns.coordinator);
        join(self);
      },
      [self](const caf::error& err) {
        self->state.connecting = false;
        problem(self, "cannot reach the coordinator at " + self->state.settings.host + ":"
                        + std::to_string(self->state.settings.port) + ": " + error_text(err));
      });
}

void refresh_statuses(node_pointer self) {
  for (auto& [name, sp] : self->state.served)
    self->request(sp.supervisor, std::chrono::seconds{2}, atom::status_v)
      .then(
        [self, name = name](std::vector<profile_status>& list) {
          auto i = self->state.served.find(name);
          if (i == self->state.served.end() || list.empty())
            return;
          i->second.status = std::move(list.front());
          i->second.status.node = self->state.settings.name;
        },
        [](const caf::error&) {});
}

// -- observe: what the coordinator asks on behalf of its admin API and /metrics ------

/// Whether the current message comes from the coordinator this node joined (or
/// from this process): nobody else may reach this node's profiles.
bool sender_is_coordinator(node_pointer self) {
  auto& sender = self->current_sender();
  if (!sender)
    return false;
  auto& st = self->state;
  return sender->node() == self->node()
         || (st.joined && st.coordinator && sender->address() == st.coordinator.address());
}

caf::result<std::string> hand_notification(node_pointer self, const std::string& profile,
                                           notification& n) {
  if (!sender_is_coordinator(self))
    return make_error(errc::refused, "only the coordinator forwards notifications");
  auto& st = self->state;
  auto i = st.served.find(profile);
  if (i == st.served.end() || i->second.stopping)
    return make_error(errc::transient, "profile " + profile + " is not running on node "
                                         + st.settings.name + " (its lease moved); try again");
  return self->delegate(i->second.supervisor, atom::notify_v, profile, std::move(n));
}

caf::result<metrics_snapshot> take_snapshot(node_pointer self) {
  if (!sender_is_coordinator(self))
    return make_error(errc::refused, "only the coordinator asks for this node's metrics");
  auto& st = self->state;
  if (!st.settings.metrics)
    return metrics_snapshot{st.settings.name, {}};
  std::set<std::string> serving;
  for (auto& [name, sp] : st.served)
    serving.insert(name);
  return metrics::snapshot_of(*st.settings.metrics->registry(), st.settings.name, &serving);
}

cluster_node_actor::behavior_type cluster_node(node_pointer self, cluster_node_settings settings,
                                               coordinator_actor local) {
  self->state.settings = std::move(settings);
  self->state.local = local;
  self->state.coordinator = local;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.coordinator && msg.source == st.coordinator.address()) {
      st.coordinator = nullptr;
      st.joined = false;
      problem(self, "lost the coordinator; profiles keep running until their lease ends");
      return;
    }
    for (auto i = st.served.begin(); i != st.served.end(); ++i)
      if (i->second.supervisor.address() == msg.source) {
        spdlog::info("cluster: node {} stopped profile {}", st.settings.name, i->first);
        st.served.erase(i);
        break;
      }
    if (st.stopping && st.served.empty())
      self->quit(caf::exit_reason::user_shutdown);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    st.stopping = true;
    for (auto& [name, sp] : st.served)
      stop_profile(self, name, sp, "the node stops");
    if (st.served.empty() || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  self->send(self, atom::tick_v);
  return {
    [self](atom::status) {
      std::vector<profile_status> out;
      for (auto& [name, sp] : self->state.served)
        out.push_back(sp.status);
      return out;
    },
    [self](atom::tick) {
      auto& st = self->state;
      if (st.stopping)
        return;
      enforce_lease(self);
      refresh_statuses(self);
      if (!st.coordinator && !st.connecting)
        connect(self);
      else if (st.coordinator && !st.joined && !st.connecting)
        join(self);
      else if (st.joined && !st.renewing)
        renew(self);
      self->delayed_send(self, st.settings.renew_every, atom::tick_v);
    },
    [self](atom::deadline) {
      if (!self->state.stopping)
        enforce_lease(self);
    },
    [self](atom::notify, const std::string& profile, notification& n) {
      return hand_notification(self, profile, n);
    },
    [self](atom::metrics) { return take_snapshot(self); },
  };
}

} // namespace

cluster_node_actor spawn_cluster_node(caf::actor_system& sys, cluster_node_settings settings,
                                      coordinator_actor local) {
  return sys.spawn(cluster_node, std::move(settings), std::move(local));
}

} // namespace hm
