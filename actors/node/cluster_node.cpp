#include "actors/node/cluster_node.hpp"

#include "cluster/auth.hpp"
#include "store/profile_store.hpp"
#include "store/carry.hpp"
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

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <variant>

namespace hm {

namespace {

/// A profile this node serves under a lease.
struct served_profile {
  supervisor_actor supervisor; // one supervisor per profile: started and stopped alone
  uint64_t epoch = 0;
  bool stopping = false;
  bool draining = false;       // withdrawn for a move: stopped once drained
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
  std::map<std::string, uint64_t> carrying; // stores being sent: profile -> carry epoch
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

void drain_profile(node_pointer self, const std::string& name, served_profile& sp);
void carry_store(node_pointer self, const store_order& order);

/// Makes what runs match the leases held: start the granted, drain those
/// withdrawn for a move, stop the rest, and send the stores ordered elsewhere.
void apply(node_pointer self, const lease_set& leases) {
  auto& grants = leases.grants;
  auto& served = self->state.served;
  for (auto& [name, sp] : served)
    if (std::none_of(grants.begin(), grants.end(),
                     [&](const lease_grant& g) { return g.profile == name; })) {
      if (std::find(leases.drain.begin(), leases.drain.end(), name) != leases.drain.end())
        drain_profile(self, name, sp);
      else
        stop_profile(self, name, sp, "its lease was withdrawn");
    }
  for (auto& order : leases.carry)
    carry_store(self, order);
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
        self->delayed_send(self, ns.lease_end - self->clock().now(), atom::internal_v,
                           atom::deadline_v);
        if (!ns.stopping)
          apply(self, leases);
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
    if (lp.usable()) {
      std::error_code ec;
      bool has_store = std::filesystem::exists(profile_store::path_for(lp.config.dir), ec);
      offers.push_back({lp.config.name, lp.config.node, has_store});
    }
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
        auto& ns = self->state;
        ns.connecting = false;
        auto where = ns.settings.host + ":" + std::to_string(ns.settings.port);
        // The middleman refused the handshake: waiting will not change the
        // coordinator's version, so this node stops as a refused one does.
        if (err == caf::sec::incompatible_application_ids
            || err == caf::sec::incompatible_versions) {
          auto why = "the coordinator at " + where + " speaks another cluster protocol version; "
                     "run the same hermes-matrix version on every node";
          spdlog::error("cluster: node {}: {}", ns.settings.name, why);
          if (ns.settings.refused)
            ns.settings.refused(why);
          return;
        }
        problem(self, "cannot reach the coordinator at " + where + ": " + error_text(err));
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

/// Hands a notification or a verification action from the coordinator to the supervisor
/// of the profile, when this node serves it.
template <class Atom, class Message>
caf::result<std::string> hand_notification(node_pointer self, Atom what,
                                           const std::string& profile, Message& n) {
  if (!sender_is_coordinator(self))
    return make_error(errc::refused, "only the coordinator forwards requests for a profile");
  auto& st = self->state;
  auto i = st.served.find(profile);
  if (i == st.served.end() || i->second.stopping)
    return make_error(errc::transient, "profile " + profile + " is not running on node "
                                         + st.settings.name + " (its lease moved); try again");
  return self->delegate(i->second.supervisor, what, profile, std::move(n));
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

// -- moving a profile: drain, carry the store --------------------------------

/// A lease withdrawn for a move: the profile's in-flight replies finish first
/// (bounded by drain_limit), then it stops. Losing the lease altogether
/// (enforce_lease) still stops it at once.
void drain_profile(node_pointer self, const std::string& name, served_profile& sp) {
  if (sp.draining || sp.stopping)
    return;
  sp.draining = true;
  auto& st = self->state;
  spdlog::info("cluster: node {} drains profile {}: its lease is withdrawn for a move",
               st.settings.name, name);
  auto limit = st.settings.drain_limit;
  self->request(sp.supervisor, limit, atom::drain_v)
    .then(
      [self, name](atom::ok) {
        auto i = self->state.served.find(name);
        if (i == self->state.served.end())
          return;
        spdlog::info("cluster: node {} drained profile {}: in-flight replies finished",
                     self->state.settings.name, name);
        stop_profile(self, name, i->second, "drained for a move");
      },
      [self, name, limit](const caf::error&) {
        auto i = self->state.served.find(name);
        if (i == self->state.served.end())
          return;
        spdlog::warn("cluster: node {} could not drain profile {} within {} s; stopping it "
                     "anyway (the next node resumes its turns from the journal)",
                     self->state.settings.name, name,
                     std::chrono::duration_cast<std::chrono::seconds>(limit).count());
        stop_profile(self, name, i->second, "drain limit reached");
      });
}

/// What a carry is sending: the files of the store and where it has got to.
struct carry_progress {
  store_order order;
  std::filesystem::path dir;
  std::vector<store_file> files;
  size_t file = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

/// Forgets a carry, unless a newer one of the same profile has begun meanwhile.
void done_carrying(node_pointer self, const store_order& order) {
  auto& carrying = self->state.carrying;
  if (auto i = carrying.find(order.profile); i != carrying.end() && i->second == order.epoch)
    carrying.erase(i);
}

void carry_failed(node_pointer self, const carry_progress& c, const std::string& why) {
  spdlog::error("cluster: node {} could not carry the store of profile {} to node {}: {}; it "
                "keeps its copy", self->state.settings.name, c.order.profile, c.order.to, why);
  done_carrying(self, c.order);
}

/// The coordinator has the whole store: send the manifest; once the target
/// verified it, set this node's copy aside.
void finish_carry(node_pointer self, std::shared_ptr<carry_progress> c) {
  store_manifest m{c->order.profile, c->order.epoch, c->files};
  self->request(self->state.coordinator, std::chrono::seconds{60}, m)
    .then(
      [self, c](atom::ok) {
        auto& st = self->state;
        done_carrying(self, c->order);
        auto moved = moved_dir_for(c->dir, c->order.to, c->order.epoch);
        if (auto aside = set_store_aside(c->dir, c->order.to, c->order.epoch); !aside) {
          spdlog::error("cluster: node {} carried the store of profile {} to node {} but "
                        "cannot set its own copy aside: {}; do not run it here",
                        st.settings.name, c->order.profile, c->order.to,
                        aside.error().message);
          return;
        }
        spdlog::info("cluster: node {} carried the store of profile {} to node {} ({} file(s), "
                     "{} bytes); its own copy is set aside as {}", st.settings.name,
                     c->order.profile, c->order.to, c->files.size(), c->bytes, moved.string());
      },
      [self, c](const caf::error& err) { carry_failed(self, *c, error_text(err)); });
}

/// Sends the next piece of the store, one at a time: the next leaves when the
/// target has written this one.
void send_piece(node_pointer self, std::shared_ptr<carry_progress> c) {
  if (self->state.served.count(c->order.profile) > 0) {
    // The coordinator gave the carry up and the profile runs here again.
    carry_failed(self, *c, "the profile runs on this node again");
    return;
  }
  if (c->file == c->files.size()) {
    finish_carry(self, std::move(c));
    return;
  }
  auto& f = c->files[c->file];
  auto read = read_store_piece(c->dir, f.name, c->offset);
  if (!read) {
    carry_failed(self, *c, read.error().message);
    return;
  }
  store_piece piece{c->order.profile, c->order.epoch, f.name, c->offset, std::move(*read)};
  auto size = piece.bytes.size();
  self->request(self->state.coordinator, std::chrono::seconds{30}, std::move(piece))
    .then(
      [self, c, size](atom::ok) {
        c->offset += size;
        c->bytes += size;
        if (c->offset >= c->files[c->file].size) {
          ++c->file;
          c->offset = 0;
        }
        send_piece(self, c);
      },
      [self, c](const caf::error& err) { carry_failed(self, *c, error_text(err)); });
}

/// The coordinator orders this node to send a profile's store to another node.
/// The profile must be stopped here (its store closed, its lock released).
void carry_store(node_pointer self, const store_order& order) {
  auto& st = self->state;
  if (st.served.count(order.profile) > 0)
    return; // still stopping: the order comes again with the next renewal
  if (auto i = st.carrying.find(order.profile); i != st.carrying.end() && i->second == order.epoch)
    return;
  auto* lp = loaded(self, order.profile);
  if (lp == nullptr) {
    problem(self, "ordered to carry the store of profile " + order.profile
                    + ", which this node does not have");
    return;
  }
  auto c = std::make_shared<carry_progress>();
  c->order = order;
  c->dir = store_dir_for(lp->config.dir);
  auto described = describe_store(c->dir);
  if (!described) {
    problem(self, "cannot read the store of profile " + order.profile + ": "
                    + described.error().message);
    return;
  }
  c->files = std::move(*described);
  if (auto marked = mark_carry_source(c->dir, order.epoch); !marked) {
    problem(self, "cannot carry the store of profile " + order.profile + ": "
                    + marked.error().message);
    return;
  }
  st.carrying[order.profile] = order.epoch;
  uint64_t total = 0;
  for (auto& f : c->files)
    total += f.size;
  spdlog::info("cluster: node {} carries the store of profile {} to node {} ({} file(s), {} "
               "bytes)", st.settings.name, order.profile, order.to, c->files.size(), total);
  send_piece(self, std::move(c));
}

/// Whether the current message comes from the coordinator this node joined.
bool from_coordinator(node_pointer self) {
  auto& sender = self->current_sender();
  return sender && self->state.coordinator && self->state.joined
         && sender->address() == self->state.coordinator.address();
}

/// The directory a carried store of `profile` goes to, or the reason it cannot.
std::variant<std::filesystem::path, caf::error>
carry_destination(node_pointer self, const std::string& profile, uint64_t epoch) {
  if (!from_coordinator(self))
    return make_error(errc::refused, "store pieces come only from the coordinator");
  auto* lp = loaded(self, profile);
  if (lp == nullptr || !lp->usable())
    return make_error(errc::unknown_profile, "node " + self->state.settings.name
                                               + " cannot serve profile " + profile);
  if (self->state.served.count(profile) > 0)
    return make_error(errc::unavailable, "node " + self->state.settings.name
                                           + " still runs profile " + profile);
  auto dir = store_dir_for(lp->config.dir);
  if (is_carry_source(dir, epoch))
    return make_error(errc::bad_config, "node " + self->state.settings.name
                                          + " sees the sender's store itself (one HERMES_HOME): "
                                            "run the cluster with --shared-storage");
  return dir;
}

caf::result<atom::ok> receive_piece(node_pointer self, const store_piece& piece) {
  auto dest = carry_destination(self, piece.profile, piece.epoch);
  if (auto* err = std::get_if<caf::error>(&dest))
    return std::move(*err);
  if (auto written = write_store_piece(std::get<std::filesystem::path>(dest), piece); !written)
    return make_error(errc::store_failed, written.error().message);
  return atom::ok_v;
}

caf::result<atom::ok> receive_manifest(node_pointer self, const store_manifest& m) {
  auto dest = carry_destination(self, m.profile, m.epoch);
  if (auto* err = std::get_if<caf::error>(&dest))
    return std::move(*err);
  auto& dir = std::get<std::filesystem::path>(dest);
  if (auto committed = commit_store(dir, m); !committed) {
    spdlog::error("cluster: node {} refused the store of profile {}: {}",
                  self->state.settings.name, m.profile, committed.error().message);
    return make_error(errc::store_failed, committed.error().message);
  }
  uint64_t total = 0;
  for (auto& f : m.files)
    total += f.size;
  spdlog::info("cluster: node {} received the store of profile {} ({} file(s), {} bytes, "
               "verified) into {}", self->state.settings.name, m.profile, m.files.size(), total,
               dir.string());
  return atom::ok_v;
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
  self->send(self, atom::internal_v, atom::tick_v);
  return {
    [self](atom::status) {
      std::vector<profile_status> out;
      for (auto& [name, sp] : self->state.served)
        out.push_back(sp.status);
      return out;
    },
    [self](atom::internal, atom::tick) {
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
      self->delayed_send(self, st.settings.renew_every, atom::internal_v, atom::tick_v);
    },
    [self](atom::internal, atom::deadline) {
      if (!self->state.stopping)
        enforce_lease(self);
    },
    [self](const store_piece& piece) { return receive_piece(self, piece); },
    [self](const store_manifest& m) { return receive_manifest(self, m); },
    [self](atom::notify, const std::string& profile, notification& n) {
      return hand_notification(self, atom::notify_v, profile, n);
    },
    [self](atom::verify, const std::string& profile, verification_action& a) {
      return hand_notification(self, atom::verify_v, profile, a);
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
