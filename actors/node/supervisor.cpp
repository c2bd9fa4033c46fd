#include "actors/node/supervisor.hpp"

#include "logging/profile_log.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>
#include <caf/exit_reason.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hm {

caf::timespan restart_backoff(const supervision_policy& policy, uint32_t crash_streak) {
  auto wait = policy.initial_backoff;
  for (uint32_t i = 1; i < crash_streak && wait < policy.max_backoff; ++i)
    wait *= 2;
  return std::min(wait, policy.max_backoff);
}

namespace {

/// One profile as the supervisor tracks it.
struct supervised_profile {
  profiles::profile_config config;
  profile_status status;
  std::shared_ptr<metrics::profile_metrics> metrics;
  profile_cell_actor cell;                 // invalid while not running
  caf::actor_clock::time_point spawned_at; // for "immediate" and "healthy"
  uint32_t crash_streak = 0;     // crashes since the last healthy period
  uint32_t immediate_streak = 0; // immediate crashes in a row
  uint64_t generation = 0;       // tells a stale restart timer from the current one
  /// What a reload asked of a running cell: once it is down, start it with
  /// `replacement` (changed config) or forget the profile (removed from disk).
  enum class pending_change { none, replace, remove } pending = pending_change::none;
  profiles::loaded_profile replacement;
};

struct supervisor_state {
  std::vector<supervised_profile> profiles;
  supervision_policy policy;
  cell_factory factory;
  std::shared_ptr<metrics::node_metrics> node_metrics; // a handle per profile, kept across reloads
  bool stopping = false;
  caf::error stop_reason;
  uint64_t generations = 0; // supervisor-wide, so a stale timer never matches a new entry
  static inline const char* name = "supervisor";
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

spdlog::logger& log_of(const supervised_profile& p) {
  return *profile_logger(p.config.name, p.config.dir);
}

void set_state(supervised_profile& p, profile_state s) {
  p.status.state = s;
  p.status.since = caf::make_timestamp();
  p.metrics->set_state(to_string(s));
}

supervised_profile* find(supervisor_pointer self, const std::string& name) {
  for (auto& p : self->state.profiles)
    if (p.config.name == name)
      return &p;
  return nullptr;
}

supervised_profile* find(supervisor_pointer self, const caf::actor_addr& cell) {
  for (auto& p : self->state.profiles)
    if (p.cell && p.cell.address() == cell)
      return &p;
  return nullptr;
}

/// Hands a request for the profile `name` (a notification, a verification action) to
/// its cell, which answers; an error when there is no such profile or it is not running.
template <class Atom, class Message>
caf::result<std::string> to_running_cell(supervisor_pointer self, const std::string& name,
                                         Atom what, const Message& m) {
  auto* p = find(self, name);
  if (p == nullptr)
    return make_error(errc::unknown_profile, "no profile named " + name + " on this node");
  if (!p->cell || p->status.state != profile_state::running)
    return make_error(errc::unavailable, "profile " + name + " is "
                                           + to_string(p->status.state) + ", not running");
  return self->delegate(p->cell, what, m);
}

void start_cell(supervisor_pointer self, supervised_profile& p) {
  log_of(p).info("starting profile cell");
  p.cell = self->state.factory(self->system(), caf::actor_cast<supervisor_actor>(self),
                               p.config);
  p.spawned_at = self->clock().now();
  p.status.next_restart_in = caf::timespan{0};
  set_state(p, profile_state::starting);
  self->monitor(p.cell);
}

bool all_cells_gone(supervisor_pointer self) {
  return std::none_of(self->state.profiles.begin(), self->state.profiles.end(),
                      [](const supervised_profile& p) { return static_cast<bool>(p.cell); });
}

/// A cell ended while the node is running: decide between restart, stop and fail.
void on_cell_down(supervisor_pointer self, supervised_profile& p, const caf::error& reason) {
  p.cell = nullptr;
  p.generation = ++self->state.generations;
  auto& policy = self->state.policy;
  auto text = reason ? error_text(reason) : std::string{"the profile cell exited"};
  p.status.last_error = text;
  if (reason.category() == error_category
      && !restartable(static_cast<errc>(reason.code()))) {
    log_of(p).error("stopped: {}", text);
    set_state(p, profile_state::stopped);
    return;
  }
  auto uptime = self->clock().now() - p.spawned_at;
  if (uptime >= policy.healthy_after)
    p.crash_streak = 0;
  ++p.crash_streak;
  p.immediate_streak = uptime < policy.immediate_window ? p.immediate_streak + 1 : 0;
  if (p.immediate_streak >= policy.max_immediate_crashes) {
    log_of(p).error("failed: crashed {} times in a row right after starting; "
                  "last error: {}. Fix the cause, then reload or restart hermes-matrix.",
                  p.immediate_streak, text);
    set_state(p, profile_state::failed);
    return;
  }
  auto wait = restart_backoff(policy, p.crash_streak);
  ++p.status.restarts;
  p.metrics->restarted();
  p.status.next_restart_in = wait;
  set_state(p, profile_state::backoff);
  log_of(p).warn("profile cell stopped ({}); restarting in {} ms", text,
               std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
  self->delayed_send(self, wait, atom::internal_v, atom::restart_v, p.config.name, p.generation);
}

/// How long a status query waits for a cell; one that does not answer in time is
/// shown as the supervisor sees it (a busy cell must not stall the whole status).
constexpr caf::timespan cell_status_timeout = std::chrono::seconds{2};

/// The status of every profile: the supervisor's view, with what each running cell
/// reports of itself (last sync, outbox queue) merged in.
caf::result<std::vector<profile_status>> gather_status(supervisor_pointer self) {
  struct gathering {
    std::vector<profile_status> result;
    size_t pending = 0;
    caf::typed_response_promise<std::vector<profile_status>> rp;
  };
  auto g = std::make_shared<gathering>();
  for (auto& p : self->state.profiles) {
    g->result.push_back(p.status);
    // Only a running cell has synced in this life; the others show their last sync.
    g->result.back().synced = false;
  }
  g->rp = self->make_response_promise<std::vector<profile_status>>();
  auto finish_one = [g] {
    if (--g->pending == 0)
      g->rp.deliver(std::move(g->result));
  };
  std::vector<std::pair<size_t, profile_cell_actor>> asks;
  for (size_t i = 0; i < self->state.profiles.size(); ++i) {
    auto& p = self->state.profiles[i];
    if (p.cell && p.status.state == profile_state::running)
      asks.emplace_back(i, p.cell);
  }
  if (asks.empty()) {
    g->rp.deliver(std::move(g->result));
    return g->rp;
  }
  g->pending = asks.size();
  for (auto& [i, cell] : asks)
    self->request(cell, cell_status_timeout, atom::status_v)
      .then(
        [self, g, i = i, finish_one](const profile_status& own) {
          auto& out = g->result[i];
          out.synced = own.synced;
          out.outbox_queue = own.outbox_queue;
          out.verifications = own.verifications;
          // A cell that has not synced yet in this life keeps showing the last sync
          // of an earlier one; kept for later queries (a profile in backoff shows it).
          if (own.synced)
            out.last_sync = own.last_sync;
          if (auto* p = find(self, out.profile)) {
            p->status.last_sync = out.last_sync;
            p->status.outbox_queue = own.outbox_queue;
          }
          finish_one();
        },
        [finish_one](const caf::error&) { finish_one(); });
  return g->rp;
}

/// Takes `lp` as the profile's config: a fresh start (streaks, status) that
/// keeps only the restart count. An unusable profile becomes `invalid`.
void adopt(supervised_profile& p, profiles::loaded_profile lp) {
  auto restarts = p.status.restarts;
  p.status = profile_status{};
  p.status.profile = lp.config.name;
  p.status.user_id = lp.config.user_id;
  p.status.device_id = lp.config.device_id;
  p.status.restarts = restarts;
  p.crash_streak = 0;
  p.immediate_streak = 0;
  p.pending = supervised_profile::pending_change::none;
  p.replacement = {};
  bool usable = lp.usable();
  p.config = std::move(lp.config);
  set_state(p, usable ? profile_state::starting : profile_state::invalid);
  if (!usable)
    for (auto& pr : lp.issues)
      if (pr.level == profiles::problem::severity::error) {
        p.status.last_error = pr.to_string();
        break;
      }
}

void start_if_valid(supervisor_pointer self, supervised_profile& p) {
  if (p.status.state != profile_state::invalid)
    start_cell(self, p);
}

/// Asks a running cell to stop for a reload; it is killed if it has not
/// stopped after the shutdown grace period.
void stop_for_reload(supervisor_pointer self, supervised_profile& p) {
  self->send_exit(p.cell, caf::exit_reason::user_shutdown);
  self->delayed_send(self, self->state.policy.shutdown_grace, atom::internal_v, atom::deadline_v,
                     p.config.name, p.generation);
}

/// A cell stopped because a reload asked it to: forget the profile or start
/// it with its new config.
void on_reload_down(supervisor_pointer self, supervised_profile& p) {
  p.cell = nullptr;
  p.generation = ++self->state.generations;
  if (p.pending == supervised_profile::pending_change::remove) {
    log_of(p).info("profile removed; its cell stopped");
    auto name = p.config.name;
    auto& all = self->state.profiles;
    all.erase(std::remove_if(all.begin(), all.end(),
                             [&](const supervised_profile& x) { return x.config.name == name; }),
              all.end());
    return;
  }
  adopt(p, std::move(p.replacement));
  log_of(p).info("profile changed; starting it with the new config");
  start_if_valid(self, p);
}

bool stopped_for_good(const supervised_profile& p) {
  return !p.cell
         && (p.status.state == profile_state::stopped || p.status.state == profile_state::failed);
}

/// Applies a reload: `fresh` is every profile as read from disk now.
reload_summary reload(supervisor_pointer self, const std::vector<profiles::loaded_profile>& fresh) {
  using pending = supervised_profile::pending_change;
  reload_summary summary;
  std::vector<supervised_profile> next; // in the new profile order
  auto& old = self->state.profiles;
  for (auto& lp : fresh) {
    auto i = std::find_if(old.begin(), old.end(), [&](const supervised_profile& p) {
      return p.config.name == lp.config.name;
    });
    if (i == old.end()) {
      supervised_profile p;
      p.metrics = self->state.node_metrics->profile(lp.config.name);
      adopt(p, lp);
      log_of(p).info("profile added");
      start_if_valid(self, p);
      summary.added.push_back(lp.config.name);
      next.push_back(std::move(p));
      continue;
    }
    auto p = std::move(*i);
    old.erase(i);
    bool same = p.pending != pending::remove && p.config == lp.config
                && (p.status.state == profile_state::invalid) == !lp.usable();
    if (p.pending == pending::replace)
      same = p.replacement.config == lp.config && p.replacement.usable() == lp.usable();
    if (same && p.pending == pending::none && stopped_for_good(p)) {
      // Nothing changed on disk, but the cause may have been fixed elsewhere
      // (a token reinstated, a homeserver back): give it a fresh start.
      log_of(p).info("profile unchanged but {}; starting it again on reload",
                     to_string(p.status.state));
      adopt(p, lp);
      start_if_valid(self, p);
      summary.retried.push_back(lp.config.name);
    } else if (same) {
      summary.unchanged.push_back(lp.config.name);
    } else if (p.cell) {
      // The old cell must be gone (its store closed and unlocked) before the
      // new one opens the same store.
      log_of(p).info("profile changed; stopping its cell to restart it");
      if (p.pending == pending::none)
        stop_for_reload(self, p);
      p.pending = pending::replace;
      p.replacement = lp;
      summary.changed.push_back(lp.config.name);
    } else {
      p.generation = ++self->state.generations; // cancels a pending backoff restart
      adopt(p, lp);
      log_of(p).info("profile changed; starting it with the new config");
      start_if_valid(self, p);
      summary.changed.push_back(lp.config.name);
    }
    next.push_back(std::move(p));
  }
  for (auto& p : old) { // gone from disk
    if (p.cell) {
      if (p.pending == pending::none)
        stop_for_reload(self, p);
      p.pending = pending::remove;
      log_of(p).info("profile removed; stopping its cell");
      summary.removed.push_back(p.config.name);
      next.push_back(std::move(p)); // kept until its cell is down
    } else if (p.pending != pending::remove) {
      log_of(p).info("profile removed");
      summary.removed.push_back(p.config.name);
    }
  }
  old = std::move(next);
  return summary;
}

/// Drains every running cell; answers once all are idle (or gone: a cell that
/// ended has nothing in flight any more).
caf::result<atom::ok> drain_cells(supervisor_pointer self) {
  auto rp = self->make_response_promise<atom::ok>();
  auto pending = std::make_shared<size_t>(0);
  for (auto& p : self->state.profiles)
    if (p.cell)
      ++*pending;
  if (*pending == 0) {
    rp.deliver(atom::ok_v);
    return rp;
  }
  for (auto& p : self->state.profiles)
    if (p.cell)
      self->request(p.cell, caf::infinite, atom::drain_v)
        .then(
          [rp, pending](atom::ok) mutable {
            if (--*pending == 0)
              rp.deliver(atom::ok_v);
          },
          [rp, pending](const caf::error&) mutable {
            if (--*pending == 0)
              rp.deliver(atom::ok_v);
          });
  return rp;
}

supervisor_actor::behavior_type
supervisor(supervisor_pointer self, std::vector<profiles::loaded_profile> loaded,
           supervision_policy policy, cell_factory factory,
           std::shared_ptr<metrics::node_metrics> metrics) {
  self->state.policy = policy;
  self->state.factory = std::move(factory);
  self->state.node_metrics = metrics;
  for (auto& lp : loaded) {
    supervised_profile p;
    p.metrics = metrics->profile(lp.config.name);
    adopt(p, std::move(lp));
    self->state.profiles.push_back(std::move(p));
  }
  for (auto& p : self->state.profiles)
    start_if_valid(self, p);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto* p = find(self, msg.source);
    if (p == nullptr)
      return;
    if (self->state.stopping) {
      p->cell = nullptr;
      set_state(*p, profile_state::stopped);
      if (all_cells_gone(self))
        self->quit(self->state.stop_reason);
      return;
    }
    if (p->pending != supervised_profile::pending_change::none) {
      on_reload_down(self, *p);
      return;
    }
    on_cell_down(self, *p, msg.reason);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (self->state.stopping)
      return;
    self->state.stopping = true;
    self->state.stop_reason = msg.reason;
    spdlog::info("stopping {} profile cell(s)",
                 std::count_if(self->state.profiles.begin(), self->state.profiles.end(),
                               [](const supervised_profile& p) { return static_cast<bool>(p.cell); }));
    for (auto& p : self->state.profiles)
      if (p.cell)
        self->send_exit(p.cell, msg.reason);
    if (all_cells_gone(self)) {
      self->quit(msg.reason);
      return;
    }
    // Cells flush their work and close their stores; one that hangs must not
    // keep the node from stopping.
    self->delayed_send(self, self->state.policy.shutdown_grace, atom::internal_v, atom::deadline_v);
  });
  return {
    [self](atom::status) { return gather_status(self); },
    [self](atom::notify, const std::string& name,
           const notification& n) -> caf::result<std::string> {
      return to_running_cell(self, name, atom::notify_v, n);
    },
    [self](atom::verify, const std::string& name,
           const verification_action& a) -> caf::result<std::string> {
      return to_running_cell(self, name, atom::verify_v, a);
    },
    [self](const cell_ready& ready) {
      const auto& user_id = ready.user_id;
      const auto& device_id = ready.device_id;
      auto* p = find(self, ready.profile);
      if (p == nullptr || !p->cell)
        return;
      p->status.user_id = user_id;
      p->status.device_id = device_id;
      set_state(*p, profile_state::running);
      log_of(*p).info("running as {} (device {})",
                   user_id.empty() ? "(unknown user)" : user_id,
                   device_id.empty() ? "(unknown)" : device_id);
    },
    [self](atom::internal, atom::restart, const std::string& name, uint64_t generation) {
      if (self->state.stopping)
        return;
      auto* p = find(self, name);
      if (p == nullptr || p->generation != generation || p->cell
          || p->status.state == profile_state::invalid)
        return;
      start_cell(self, *p);
    },
    [self](atom::internal, atom::deadline) {
      for (auto& p : self->state.profiles)
        if (p.cell) {
          log_of(p).warn("profile cell did not stop in time; killing it");
          self->send_exit(p.cell, caf::exit_reason::kill);
        }
      self->quit(self->state.stop_reason);
    },
    [self](atom::reload, const profile_reload& msg) {
      if (self->state.stopping || !msg.profiles)
        return reload_summary{};
      return reload(self, *msg.profiles);
    },
    [self](atom::drain) { return drain_cells(self); },
    [self](atom::internal, atom::deadline, const std::string& name, uint64_t generation) {
      auto* p = find(self, name);
      if (p == nullptr || !p->cell || p->generation != generation
          || p->pending == supervised_profile::pending_change::none)
        return;
      log_of(*p).warn("profile cell did not stop in time for the reload; killing it");
      self->send_exit(p->cell, caf::exit_reason::kill);
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys,
                                  std::vector<profiles::loaded_profile> profiles,
                                  supervision_policy policy, cell_factory factory,
                                  std::shared_ptr<metrics::node_metrics> metrics) {
  if (!metrics)
    metrics = std::make_shared<metrics::node_metrics>();
  return sys.spawn(supervisor, std::move(profiles), policy, std::move(factory),
                   std::move(metrics));
}

} // namespace hm
