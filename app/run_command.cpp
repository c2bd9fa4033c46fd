#include "app/commands.hpp"

#include "actors/cluster_auth.hpp"
#include "app/cluster_setup.hpp"

#include "actors/http_engine.hpp"
#include "actors/profile_cell.hpp"
#include "actors/profile_log.hpp"
#include "actors/supervisor.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "profiles/discovery.hpp"

#include "hm/version.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

#include <csignal>
#include <sys/stat.h>

namespace hm {

namespace {

/// The signals the node handles. They are blocked in every thread (CAF's
/// threads inherit the mask of the thread that creates the actor system) and
/// taken synchronously by the main thread with sigwait, so no handler ever
/// runs inside an actor.
sigset_t node_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

/// Waits for a stop signal (returned), or for `refused` (returns 0).
int wait_for_stop_signal(const sigset_t& set, const std::atomic<bool>& refused) {
  for (;;) {
    if (refused)
      return 0;
    timespec poll{0, 200'000'000};
    int sig = sigtimedwait(&set, nullptr, &poll);
    if (sig < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      return SIGTERM;
    }
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP: reloading profiles is not supported by this version; "
                   "restart hermes-matrix to pick up changed profiles");
      continue;
    }
    return sig;
  }
}

} // namespace

int run_command(const run_options& options) {
  // Everything this service creates (stores, logs, key files) is private.
  ::umask(077);
  init_logging(options.log_level);
  auto& cluster = options.cluster;
  std::string secret;
  if (cluster.enabled()) {
    if (auto err = check_cluster_options(cluster)) {
      spdlog::error("{}", error_text(err));
      return exit_usage;
    }
    auto read = read_cluster_secret(cluster.secret_file);
    if (!read) {
      spdlog::error("{}", error_text(read.error()));
      return exit_failure;
    }
    secret = std::move(*read);
  }
  auto home = options.selection.hermes_home.empty() ? profiles::default_hermes_home()
                                                    : options.selection.hermes_home;
  auto set = profiles::load_profiles(home, options.selection.names);
  for (auto& p : set.issues)
    (p.level == profiles::problem::severity::error ? spdlog::error("{}", p.to_string())
                                                   : spdlog::warn("{}", p.to_string()));
  std::vector<profiles::loaded_profile> serving;
  size_t usable = 0;
  for (auto& lp : set.profiles) {
    if (!lp.config.on_matrix()) {
      spdlog::info("profile {} is not on Matrix; skipped", lp.config.name);
      continue;
    }
    // A profile's own problems go to its own log too, where its owner looks.
    auto log = profile_logger(lp.config.name, lp.config.dir);
    for (auto& p : lp.issues)
      log->log(p.level == profiles::problem::severity::error ? spdlog::level::err
                                                             : spdlog::level::warn,
               "{}", p.to_string());
    if (lp.usable())
      ++usable;
    else
      log->error("profile {} has errors and is not started (see `hermes-matrix check`)",
                 lp.config.name);
    serving.push_back(std::move(lp));
  }
  // A cluster node may have nothing to serve yet (the coordinator of worker
  // processes, a worker whose profiles are pinned elsewhere).
  if (usable == 0 && !cluster.enabled()) {
    spdlog::error("no usable profile on Matrix under {}; run `hermes-matrix check` to see why",
                  set.hermes_home.string());
    return exit_failure;
  }
  auto signals = node_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::hermes_matrix>();
  cfg.add_error_category(error_category, render_error);
  // Idle profiles must cost no CPU: the sharing scheduler sleeps when idle,
  // the default work-stealing one polls.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  if (cluster.enabled())
    configure_middleman(cfg, cluster);
  caf::actor_system sys{cfg};
  supervision_policy policy;
  spdlog::info("hermes-matrix {} {} {} profile(s) from {}", hm::version,
               cluster.enabled() ? "offering" : "serving", usable, set.hermes_home.string());
  auto engine = spawn_http_engine(sys);
  cell_factory factory = [engine](caf::actor_system& system, supervisor_actor parent,
                                  const profiles::profile_config& config) {
    return spawn_profile_cell(system, std::move(parent), config, engine);
  };
  std::atomic<bool> refused{false};
  caf::actor serving_root; // the supervisor, or this process's cluster node
  cluster_runtime runtime;
  if (cluster.enabled()) {
    cluster_node_settings node;
    node.policy = policy;
    node.factory = factory;
    node.profiles = std::move(serving);
    auto started = start_cluster(sys, options, secret, std::move(node), refused);
    if (!started) {
      spdlog::error("{}", error_text(started.error()));
      caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
      return exit_failure;
    }
    runtime = std::move(*started);
    serving_root = caf::actor_cast<caf::actor>(runtime.node);
  } else {
    serving_root = caf::actor_cast<caf::actor>(
      spawn_supervisor(sys, std::move(serving), policy, std::move(factory)));
  }

  auto sig = wait_for_stop_signal(signals, refused);
  if (sig == 0)
    spdlog::error("stopping: this node was refused by the cluster");
  else
    spdlog::info("{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (runtime.workers)
    runtime.workers->stop(static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(policy.shutdown_grace).count() + 2));
  caf::scoped_actor self{sys};
  if (serving_root) {
    self->monitor(serving_root);
    self->send_exit(serving_root, caf::exit_reason::user_shutdown);
    bool stopped = false;
    self->receive([&](caf::down_msg&) { stopped = true; },
                  caf::after(policy.shutdown_grace + std::chrono::seconds{2}) >> [] {});
    if (!stopped)
      spdlog::error("the profiles did not stop in time");
  }
  if (runtime.coordinator)
    self->send_exit(runtime.coordinator, caf::exit_reason::user_shutdown);
  self->send_exit(engine, caf::exit_reason::user_shutdown);
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  return sig == 0 ? exit_failure : exit_ok;
}

} // namespace hm
