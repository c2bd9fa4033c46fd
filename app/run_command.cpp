#include "app/commands.hpp"

#include "cluster/auth.hpp"
#include "app/cluster_setup.hpp"

#include "app/admin_server.hpp"
#include "app/admin_token.hpp"
#include "app/cluster_observe.hpp"

#include "actors/http/engine.hpp"
#include "actors/cell/profile_cell.hpp"
#include "logging/profile_log.hpp"
#include "store/profile_store.hpp"
#include "actors/node/supervisor.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "metrics/exposer.hpp"
#include "metrics/node_metrics.hpp"
#include "profiles/discovery.hpp"

#include "hm/version.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <sys/resource.h>
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

/// Blocks until SIGINT or SIGTERM (returned), SIGHUP (returns SIGHUP), or until
/// `refused` is set because the cluster refused this node (returns 0).
int wait_for_signal(const sigset_t& set, const std::atomic<bool>& refused) {
  for (;;) {
    if (refused)
      return 0;
    timespec poll{0, 200'000'000};
    int sig = sigtimedwait(&set, nullptr, &poll);
    if (sig >= 0)
      return sig;
    if (errno != EAGAIN && errno != EINTR)
      return SIGTERM;
  }
}

/// The profiles of `set` that are on Matrix, each one's problems logged to its
/// own log (where its owner looks) and the node's problems to stderr.
std::vector<profiles::loaded_profile> profiles_on_matrix(profiles::profile_set& set,
                                                         size_t& usable) {
  for (auto& p : set.issues)
    (p.level == profiles::problem::severity::error ? spdlog::error("{}", p.to_string())
                                                   : spdlog::warn("{}", p.to_string()));
  std::vector<profiles::loaded_profile> serving;
  usable = 0;
  for (auto& lp : set.profiles) {
    if (!lp.config.on_matrix()) {
      spdlog::info("profile {} is not on Matrix; skipped", lp.config.name);
      continue;
    }
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
  return serving;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "-" : out;
}

/// SIGHUP: reads the profiles again (on this thread, not an actor's) and hands
/// them to the supervisor, which starts, stops and restarts cells as needed.
void reload_profiles(caf::actor_system& sys, const supervisor_actor& supervisor,
                     const std::filesystem::path& home, const std::vector<std::string>& names) {
  spdlog::info("SIGHUP: reading the profiles under {} again", home.string());
  auto set = profiles::load_profiles(home, names);
  size_t usable = 0;
  auto fresh = std::make_shared<const std::vector<profiles::loaded_profile>>(
    profiles_on_matrix(set, usable));
  if (usable == 0)
    spdlog::warn("no usable profile on Matrix after the reload; the node keeps running");
  caf::scoped_actor self{sys};
  self->request(supervisor, std::chrono::seconds{30}, atom::reload_v, profile_reload{fresh})
    .receive(
      [](const reload_summary& r) {
        spdlog::info("reload done: added {}; removed {}; changed {}; retried {}; unchanged {}",
                     joined(r.added), joined(r.removed), joined(r.changed), joined(r.retried),
                     joined(r.unchanged));
      },
      [](const caf::error& err) { spdlog::error("reload failed: {}", caf::to_string(err)); });
}

/// Serves the metrics where `listen` says. A port that cannot be bound is logged and the
/// profiles are served all the same: metrics are for watching, not for answering.
std::unique_ptr<metrics::exposer>
start_metrics_endpoint(const std::optional<metrics::listen_address>& listen,
                       const std::shared_ptr<prometheus::Collectable>& served) {
  if (!listen) {
    spdlog::info("metrics endpoint off (--metrics-listen off)");
    return nullptr;
  }
  auto started = metrics::exposer::start(*listen, served);
  if (!started) {
    spdlog::error("metrics: {}; serving the profiles without a metrics endpoint "
                  "(choose another with --metrics-listen)",
                  started.error().message);
    return nullptr;
  }
  auto endpoint = std::move(*started);
  spdlog::info("metrics on http://{}:{}{}", listen->host, endpoint->port(),
               metrics::metrics_path);
  return endpoint;
}

/// Raises the soft limit of open files to the hard one (at most 65,536): a profile
/// holds a long-poll and agent streams open, and with the usual soft limit of 1,024 a
/// few hundred profiles, or a flood of idle connections to the admin port, made every
/// new request fail. Under the systemd unit (LimitNOFILE) there is nothing to raise.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return;
  constexpr rlim_t enough = 65536;
  rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? enough : std::min(limit.rlim_max, enough);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted)
    return;
  auto was = limit.rlim_cur;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0)
    spdlog::debug("open files: soft limit raised from {} to {}", was, wanted);
  else
    spdlog::warn("open files: soft limit is {} and could not be raised ({}); many profiles "
                 "or connections may run out of file descriptors",
                 was, std::strerror(errno));
}

} // namespace

int run_command(const run_options& options) {
  // Everything this service creates (stores, logs, key files) is private.
  ::umask(077);
  init_logging(options.log_level,
               options.log_format == "json" ? log_format::json : log_format::text);
  raise_open_file_limit();
  auto metrics_listen = metrics::parse_listen(options.metrics_listen);
  if (!metrics_listen) {
    spdlog::error("{}", metrics_listen.error().message);
    return exit_usage;
  }
  auto home = options.selection.hermes_home.empty() ? profiles::default_hermes_home()
                                                    : options.selection.hermes_home;
  auto admin_listen = parse_admin_listen(options.admin_listen);
  if (!admin_listen) {
    spdlog::error("{}", admin_listen.error().message);
    return exit_usage;
  }
  auto admin_where = *admin_listen;
  if (options.admin_tls_cert.empty() != options.admin_tls_key.empty()) {
    spdlog::error("--admin-tls-cert and --admin-tls-key go together: give both, or neither");
    return exit_usage;
  }
  std::optional<httpd::tls_files> admin_tls;
  if (admin_where && !options.admin_tls_cert.empty()) {
    auto loaded = read_admin_tls(options.admin_tls_cert, options.admin_tls_key);
    if (!loaded) {
      spdlog::error("admin API: {}", loaded.error().message);
      return exit_usage;
    }
    admin_tls = std::move(*loaded);
  }
  if (admin_where && !is_loopback_host(admin_where->host) && !admin_tls
      && !options.admin_listen_plaintext) {
    spdlog::error("--admin-listen {}: not a loopback address, and no TLS: the admin API's "
                  "bearer token would cross the network in clear. Give --admin-tls-cert and "
                  "--admin-tls-key, listen on 127.0.0.1 behind a TLS proxy, or pass "
                  "--admin-listen-plaintext to accept that",
                  options.admin_listen);
    return exit_usage;
  }
  auto& cluster = options.cluster;
  std::string secret;
  if (cluster.enabled()) {
    if (auto err = check_cluster_options(cluster)) {
      spdlog::error("{}", error_text(err));
      return exit_usage;
    }
    auto read = read_cluster_secret(cluster.secret_file);
    if (!read.error.empty()) {
      spdlog::error("{}", read.error);
      return exit_failure;
    }
    secret = std::move(read.value);
    // The coordinator's admin API shows and reaches every profile of the cluster; a
    // worker's would show only part of it, so workers have none.
    if (cluster.listen.empty()) {
      if (admin_where)
        spdlog::info("admin API off on a worker; the coordinator's admin API serves the "
                     "whole cluster");
      admin_where.reset();
    }
  }
  auto set = profiles::load_profiles(home, options.selection.names);
  size_t usable = 0;
  auto serving = profiles_on_matrix(set, usable);
  // A cluster node may have nothing to serve yet (the coordinator of worker
  // processes, a worker whose profiles are pinned elsewhere).
  if (usable == 0 && !cluster.enabled()) {
    spdlog::error("no usable profile on Matrix under {}; run `hermes-matrix check` to see why",
                  set.hermes_home.string());
    return exit_failure;
  }
  // A second `run` on profiles another process already serves would only wait for
  // their locks: say so and stop. (Some of them: the others are served, these wait.)
  if (!cluster.enabled()) {
    std::vector<std::string> held;
    for (auto& lp : serving)
      if (lp.usable() && profile_store::held_elsewhere(profile_store::path_for(lp.config.dir)))
        held.push_back(lp.config.name);
    if (!held.empty() && held.size() == usable) {
      spdlog::error("every profile to serve is served by another hermes-matrix process "
                    "already (its store is locked): {}; stop that one first, or choose other "
                    "profiles with --profile",
                    fmt::join(held, ", "));
      return exit_failure;
    }
    for (auto& name : held)
      spdlog::warn("profile {} is served by another hermes-matrix process (its store is "
                   "locked); it starts here once that one stops",
                   name);
  }
  // Only now, with profiles to serve: a mistyped --hermes-home gets no token file.
  std::string admin_token;
  std::filesystem::path admin_token_path;
  if (admin_where) {
    admin_token_path = options.admin_token_file.empty() ? default_admin_token_path(set.hermes_home)
                                                        : options.admin_token_file;
    auto token = options.admin_token_file.empty() ? read_or_create_admin_token(admin_token_path)
                                                  : read_admin_token(admin_token_path);
    if (!token.error.empty()) {
      spdlog::error("admin API: {}", token.error);
      return exit_failure;
    }
    admin_token = std::move(token.value);
  }
  auto signals = node_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The metrics outlive the actors that update them; the endpoint's threads are
  // started after the signal mask, so that they never take SIGTERM either.
  // In a cluster every series carries this node's name; the coordinator's endpoint
  // serves the whole cluster (every node's series, fetched at each scrape).
  auto node_metrics = std::make_shared<metrics::node_metrics>(metrics_node_name(cluster));
  std::shared_ptr<metrics::cluster_scrape> cluster_scrape;
  if (!cluster.listen.empty())
    cluster_scrape = std::make_shared<metrics::cluster_scrape>();
  auto endpoint = start_metrics_endpoint(
    *metrics_listen,
    cluster_scrape ? std::shared_ptr<prometheus::Collectable>{cluster_scrape}
                   : std::shared_ptr<prometheus::Collectable>{node_metrics->registry()});

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
  cell_factory factory = [engine, node_metrics](caf::actor_system& system,
                                                supervisor_actor parent,
                                                const profiles::profile_config& config) {
    return spawn_profile_cell(system, std::move(parent), config, engine,
                              node_metrics->profile(config.name));
  };
  std::atomic<bool> refused{false};
  supervisor_actor supervisor; // without a cluster: the one supervisor of this node
  caf::actor serving_root;     // the supervisor, or this process's cluster node
  cluster_runtime runtime;
  if (cluster.enabled()) {
    cluster_node_settings node;
    node.policy = policy;
    node.factory = factory;
    node.metrics = node_metrics;
    node.profiles = std::move(serving);
    auto started = start_cluster(sys, options, secret, std::move(node), refused);
    if (!started) {
      spdlog::error("{}", error_text(started.error()));
      caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
      return exit_failure;
    }
    runtime = std::move(*started);
    serving_root = caf::actor_cast<caf::actor>(runtime.node);
    if (cluster_scrape && runtime.coordinator)
      cluster_scrape->connect(coordinator_metrics_source(sys, runtime.coordinator));
  } else {
    supervisor = spawn_supervisor(sys, std::move(serving), policy, std::move(factory),
                                  node_metrics);
    serving_root = caf::actor_cast<caf::actor>(supervisor);
  }

  // The admin API is a window onto the node, not part of serving Matrix: when its
  // address is taken the profiles are served all the same.
  std::optional<admin_server> admin;
  if (admin_where) {
    if (runtime.coordinator)
      admin.emplace(sys, runtime.coordinator, std::move(admin_token));
    else
      admin.emplace(sys, supervisor, std::move(admin_token));
    bool over_tls = admin_tls.has_value();
    if (auto started = admin->start(*admin_where, std::move(admin_tls)); !started) {
      spdlog::error("admin API: {}; serving without it (see --admin-listen)",
                    started.error().message);
      admin.reset();
    } else {
      spdlog::info("admin API listening on {}://{}:{} (token in {})",
                   over_tls ? "https" : "http", admin_where->host.find(':') != std::string::npos
                     ? "[" + admin_where->host + "]" : admin_where->host,
                   admin->port(), admin_token_path.string());
    }
  }

  auto sig = wait_for_signal(signals, refused);
  while (sig == SIGHUP) {
    if (supervisor)
      reload_profiles(sys, supervisor, set.hermes_home, options.selection.names);
    else
      spdlog::warn("SIGHUP: a cluster node does not reload its profiles; restart it instead");
    sig = wait_for_signal(signals, refused);
  }
  if (sig == 0)
    spdlog::error("stopping: this node was refused by the cluster");
  else
    spdlog::info("{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // No admin request or scrape may reach actors that are going away.
  admin.reset();
  if (cluster_scrape)
    cluster_scrape->disconnect();
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
  // A scrape's scoped actor leaves CAF's logger in the exposer thread's thread-local
  // storage, and the actor system's destructor waits for the last reference to it:
  // the exposer's threads must end first.
  endpoint.reset();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  return sig == 0 ? exit_failure : exit_ok;
}

} // namespace hm
