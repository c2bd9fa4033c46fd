#include "actors/supervisor.hpp"

#include "actors/profile_log.hpp"
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
};

struct supervisor_state {
  std::vector<supervised_profile> profiles;
  supervision_policy policy;
  cell_factory factory;
  bool stopping = false;
  caf::error stop_reason;
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
  ++p.generation;
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
  self->delayed_send(self, wait, atom::restart_v, p.config.name, p.generation);
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

supervisor_actor::behavior_type
supervisor(supervisor_pointer self, std::vector<profiles::loaded_profile> loaded,
           supervision_policy policy, cell_factory factory,
           std::shared_ptr<metrics::node_metrics> metrics) {
  self->state.policy = policy;
  self->state.factory = std::move(factory);
  for (auto& lp : loaded) {
    supervised_profile p;
    p.metrics = metrics->profile(lp.config.name);
    p.status.profile = lp.config.name;
    p.status.user_id = lp.config.user_id;
    p.status.device_id = lp.config.device_id;
    bool usable = lp.usable();
    p.config = std::move(lp.config);
    if (!usable) {
      set_state(p, profile_state::invalid);
      for (auto& pr : lp.issues)
        if (pr.level == profiles::problem::severity::error) {
          p.status.last_error = pr.to_string();
          break;
        }
    }
    self->state.profiles.push_back(std::move(p));
  }
  for (auto& p : self->state.profiles)
    if (p.status.state != profile_state::invalid)
      start_cell(self, p);
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
    self->delayed_send(self, self->state.policy.shutdown_grace, atom::deadline_v);
  });
  return {
    [self](atom::status) { return gather_status(self); },
    [self](atom::notify, const std::string& name,
           const notification& n) -> caf::result<std::string> {
      auto* p = find(self, name);
      if (p == nullptr)
        return make_error(errc::unknown_profile, "no profile named " + name + " on this node");
      if (!p->cell || p->status.state != profile_state::running)
        return make_error(errc::unavailable, "profile " + name + " is "
                                               + to_string(p->status.state) + ", not running");
      return self->delegate(p->cell, atom::notify_v, n);
    },
    [self](atom::ready, const std::string& name, const std::string& user_id,
           const std::string& device_id) {
      auto* p = find(self, name);
      if (p == nullptr || !p->cell)
        return;
      p->status.user_id = user_id;
      p->status.device_id = device_id;
      set_state(*p, profile_state::running);
      log_of(*p).info("running as {} (device {})",
                   user_id.empty() ? "(unknown user)" : user_id,
                   device_id.empty() ? "(unknown)" : device_id);
    },
    [self](atom::restart, const std::string& name, uint64_t generation) {
      if (self->state.stopping)
        return;
      auto* p = find(self, name);
      if (p == nullptr || p->generation != generation || p->cell)
        return;
      start_cell(self, *p);
    },
    [self](atom::deadline) {
      for (auto& p : self->state.profiles)
        if (p.cell) {
          log_of(p).warn("profile cell did not stop in time; killing it");
          self->send_exit(p.cell, caf::exit_reason::kill);
        }
      self->quit(self->state.stop_reason);
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
