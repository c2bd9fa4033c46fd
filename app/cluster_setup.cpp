#include "app/cluster_setup.hpp"

#include "actors/node/cluster_door.hpp"
#include "actors/cell/fault_switch.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include <spdlog/spdlog.h>

#include <charconv>

namespace hm {

namespace {

/// Bumped whenever the cluster messages change: a node of another version is
/// refused by the middleman's handshake instead of misreading messages.
constexpr const char* cluster_app_id = "hermes-matrix-cluster-2";

caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>{s});
}

bool tls(const cluster_options& o) {
  return !o.cert.empty();
}

} // namespace

caf::expected<host_port> parse_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return make_error(errc::bad_config, "'" + text + "' is not HOST:PORT");
  host_port out;
  out.host = text.substr(0, colon);
  auto port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || ptr != port.data() + port.size() || value > 65535)
    return make_error(errc::bad_config, "'" + text + "': the port is not a number 0-65535");
  out.port = static_cast<uint16_t>(value);
  return out;
}

caf::error check_cluster_options(const cluster_options& o) {
  if (o.secret_file.empty())
    return make_error(errc::bad_config, "--cluster-secret-file is required in a cluster");
  if (!o.join.empty() && o.node_name.empty())
    return make_error(errc::bad_config, "--cluster-join needs --node-name NAME");
  if (!o.listen.empty())
    if (auto hp = parse_host_port(o.listen); !hp)
      return make_error(errc::bad_config, "--cluster-listen: " + error_text(hp.error()));
  if (!o.join.empty()) {
    auto hp = parse_host_port(o.join);
    if (!hp)
      return make_error(errc::bad_config, "--cluster-join: " + error_text(hp.error()));
    if (hp->port == 0)
      return make_error(errc::bad_config, "--cluster-join: give the coordinator's port");
  }
  bool any_tls = !o.cert.empty() || !o.key.empty() || !o.ca.empty();
  if (any_tls && (o.cert.empty() || o.key.empty() || o.ca.empty()))
    return make_error(errc::bad_config,
                      "TLS needs all of --cluster-cert, --cluster-key and --cluster-ca");
  return {};
}

void configure_middleman(caf::actor_system_config& cfg, const cluster_options& o) {
  cfg.load<caf::io::middleman>();
  if (tls(o)) {
    cfg.load<caf::openssl::manager>();
    cfg.set("openssl.certificate", o.cert.string());
    cfg.set("openssl.key", o.key.string());
    cfg.set("openssl.cafile", o.ca.string());
  }
  // CAF 0.17 leaves heartbeats off: a silent peer would never be noticed. Half
  // a lease without a byte drops a connection, so a renewal lost with it is
  // retried on a new one before the lease ends. (A garbage header announcing a
  // huge payload no longer reaches CAF's broker on the plain TCP port: see
  // cluster/peer_screen.hpp.)
  cfg.set("middleman.heartbeat-interval", seconds(o.lease_seconds / 10));
  cfg.set("middleman.connection-timeout", seconds(o.lease_seconds / 2));
  // The middleman of a node whose app identifier differs refuses the handshake.
  auto app_id = cluster_app_id_override().empty() ? std::string{cluster_app_id}
                                                  : cluster_app_id_override();
  cfg.set("middleman.app-identifiers", std::vector<std::string>{app_id});
  // Nodes talk to the coordinator only; no hidden links between workers.
  cfg.set("middleman.enable-automatic-connections", false);
}

caf::expected<cluster_runtime> start_cluster(caf::actor_system& sys, const run_options& options,
                                             const std::string& secret,
                                             cluster_node_settings node,
                                             std::atomic<bool>& refused) {
  auto& o = options.cluster;
  cluster_runtime rt;
  node.secret = secret;
  node.tls = tls(o);
  node.renew_every = seconds(o.lease_seconds / 5);
  node.refused = [&refused](const std::string&) { refused = true; };
  if (!o.listen.empty()) {
    auto where = *parse_host_port(o.listen);
    coordinator_settings cs;
    cs.rules.lease = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>{o.lease_seconds});
    // Local workers share this host's HERMES_HOME.
    cs.rules.shared_storage = o.shared_storage || o.workers > 0;
    cs.secret = secret;
    rt.coordinator = spawn_coordinator(sys, std::move(cs));
    // Plain TCP goes through the door that screens and logs bad connections;
    // with TLS, a peer must present a certificate of the cluster's CA first.
    auto port = tls(o) ? caf::openssl::publish(rt.coordinator, where.port, where.host.c_str(), true)
                       : publish_behind_door(sys, rt.coordinator, where.port, where.host,
                                             seconds(o.lease_seconds / 2));
    if (!port) {
      caf::anon_send_exit(rt.coordinator, caf::exit_reason::user_shutdown);
      return make_error(errc::bad_config, "--cluster-listen " + o.listen + ": cannot listen: "
                                            + error_text(port.error()));
    }
    spdlog::info("cluster: coordinator listening on {}:{}{}", where.host, *port,
                 tls(o) ? " (TLS)" : "");
    if (o.workers > 0) {
      auto join_host = where.host == "0.0.0.0" || where.host.empty() ? "127.0.0.1" : where.host;
      std::vector<std::vector<std::string>> args;
      for (unsigned i = 1; i <= o.workers; ++i) {
        std::vector<std::string> a{"run", "--cluster-join", join_host + ":" + std::to_string(*port),
                                   "--node-name", "worker-" + std::to_string(i),
                                   "--cluster-secret-file", o.secret_file.string(),
                                   "--lease-seconds", std::to_string(o.lease_seconds),
                                   "--shared-storage", "--log-level", options.log_level,
                                   // The coordinator's endpoint serves their series.
                                   "--metrics-listen", "off"};
        if (!options.selection.hermes_home.empty())
          a.insert(a.end(), {"--hermes-home", options.selection.hermes_home.string()});
        for (auto& name : options.selection.names)
          a.insert(a.end(), {"--profile", name});
        if (tls(o))
          a.insert(a.end(), {"--cluster-cert", o.cert.string(), "--cluster-key", o.key.string(),
                             "--cluster-ca", o.ca.string()});
        args.push_back(std::move(a));
      }
      rt.workers = std::make_unique<worker_processes>(o.workers, std::move(args));
      return rt;
    }
    node.name = o.node_name.empty() ? "coordinator" : o.node_name;
    rt.node = spawn_cluster_node(sys, std::move(node), rt.coordinator);
    return rt;
  }
  auto where = *parse_host_port(o.join);
  node.name = o.node_name;
  node.host = where.host;
  node.port = where.port;
  spdlog::info("cluster: node {} joining the coordinator at {}:{}", node.name, where.host,
               where.port);
  rt.node = spawn_cluster_node(sys, std::move(node), coordinator_actor{});
  return rt;
}

} // namespace hm
