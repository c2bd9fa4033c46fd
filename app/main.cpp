// hermes-matrix: one service that puts every Hermes Agent profile on Matrix as
// its own bot. This file is only the command line; the commands live beside it.

#include "app/commands.hpp"

#include "hm/version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace hm {
// A no-op in hermes-matrix (actors/cell/fault_switch_none.cpp); in hermes-matrix-faulty
// (actors/cell/fault_switch_hook.cpp) tests arm faults per profile.
void install_test_fault_switch();
} // namespace hm

namespace {

void add_selection(CLI::App& cmd, hm::profile_selection& sel) {
  cmd.add_option("--hermes-home", sel.hermes_home,
                 "Hermes home (default: $HERMES_HOME, else ~/.hermes)");
  cmd.add_option("--profile", sel.names,
                 "Only this profile (repeatable or comma-separated; 'default' is the "
                 "home itself)")
    ->delimiter(',');
}

} // namespace

int main(int argc, char** argv) {
  hm::install_test_fault_switch();
  CLI::App app{"hermes-matrix: every Hermes Agent profile on Matrix as its own bot, "
               "in one service"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string{hm::version});

  hm::profile_selection check_sel;
  auto* check = app.add_subcommand("check", "Validate the profiles and print a table; "
                                            "exit 1 when a profile on Matrix is unusable");
  add_selection(*check, check_sel);

  hm::run_options run_opts;
  auto* run = app.add_subcommand("run", "Serve every profile on Matrix until SIGINT/SIGTERM");
  add_selection(*run, run_opts.selection);
  run->add_option("--log-level", run_opts.log_level, "trace, debug, info, warn, error")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
    ->capture_default_str();
  run->add_option("--metrics-listen", run_opts.metrics_listen,
                  "Where Prometheus scrapes /metrics: HOST:PORT (IP address; port 0 picks a "
                  "free one), or off")
    ->capture_default_str();

  run->add_option("--admin-listen", run_opts.admin_listen,
                  "Admin HTTP API address (IP:PORT, [::1]:PORT) or 'off'; off loopback only "
                  "with --admin-tls-cert/--admin-tls-key or --admin-listen-plaintext")
    ->capture_default_str();
  run->add_option("--admin-tls-cert", run_opts.admin_tls_cert,
                  "Serve the admin API over https with this PEM certificate (chain)");
  run->add_option("--admin-tls-key", run_opts.admin_tls_key,
                  "The certificate's PEM private key (a file only its owner may read)");
  run->add_flag("--admin-listen-plaintext", run_opts.admin_listen_plaintext,
                "Allow --admin-listen off loopback without TLS, though the bearer token "
                "then crosses the network in clear");
  run->add_option("--admin-token-file", run_opts.admin_token_file,
                  "File with the admin API's bearer token (default: generated into "
                  "<hermes home>/hermes-matrix/admin-token)");

  hm::status_options status_opts;
  auto* status = app.add_subcommand("status", "Print the status of every profile of a "
                                              "running service (from its admin API)");
  status->add_option("--hermes-home", status_opts.hermes_home,
                     "Hermes home, for the default token file");
  status->add_option("--admin-url", status_opts.admin_url, "The service's admin API")
    ->capture_default_str();
  status->add_option("--admin-token-file", status_opts.admin_token_file,
                     "File with the admin token (default: <hermes home>/hermes-matrix/admin-token)");
  status->add_option("--admin-ca-file", status_opts.admin_ca_file,
                     "PEM certificates to trust for an https --admin-url (the service's own "
                     "--admin-tls-cert when it is self-signed)");
  status->add_flag("--json", status_opts.json, "Print the JSON of GET /v1/status");

  hm::verify_options verify_opts;
  auto* verify = app.add_subcommand(
    "verify", "Compare the emoji of a verification of a profile's device (from Element or "
              "another client) and confirm or reject it");
  verify->add_option("--profile", verify_opts.profile, "The profile whose device is verified")
    ->required();
  verify->add_option("--hermes-home", verify_opts.hermes_home,
                     "Hermes home, for the default token file");
  verify->add_option("--admin-url", verify_opts.admin_url, "The service's admin API")
    ->capture_default_str();
  verify->add_option("--admin-token-file", verify_opts.admin_token_file,
                     "File with the admin token (default: <hermes home>/hermes-matrix/admin-token)");
  verify->add_option("--admin-ca-file", verify_opts.admin_ca_file,
                     "PEM certificates to trust for an https --admin-url");
  verify->add_option("--flow", verify_opts.flow,
                     "The verification (its flow id, as status shows it) when several wait");
  verify->add_flag("--confirm", verify_opts.confirm,
                   "The emoji match: confirm without asking (for scripts)");
  verify->add_flag("--reject", verify_opts.reject,
                   "The emoji do not match: reject without asking (for scripts)");
  verify->add_option("--timeout", verify_opts.timeout_seconds,
                     "Seconds to wait for the emoji and for the answer; then the "
                     "verification is cancelled (m.timeout)")
    ->capture_default_str();
  run->add_option("--log-format", run_opts.log_format,
                  "text, or json: one object per line (time, level, profile, message)")
    ->check(CLI::IsMember({"text", "json"}))
    ->capture_default_str();

  hm::login_options login_opts;
  auto* login = app.add_subcommand("login", "Log a profile's bot in with its password and "
                                            "write its token, user and device to the .env");
  login->add_option("--hermes-home", login_opts.hermes_home,
                    "Hermes home (default: $HERMES_HOME, else ~/.hermes)");
  login->add_option("--profile", login_opts.profile, "The profile ('default' is the home)")
    ->required();
  login->add_option("--user", login_opts.user, "The bot's MXID (default: MATRIX_USER_ID)");
  login->add_flag("--password-stdin", login_opts.password_stdin,
                  "Read the password from stdin instead of asking on the terminal");
  login->add_flag("--force", login_opts.force, "Replace an existing MATRIX_ACCESS_TOKEN");

  hm::provision_options prov_opts;
  auto* provision = app.add_subcommand(
    "provision", "Create a profile's bot account through the Synapse admin API, log it in "
                 "and write the profile's Matrix settings");
  provision->add_option("--hermes-home", prov_opts.hermes_home,
                        "Hermes home (default: $HERMES_HOME, else ~/.hermes)");
  provision->add_option("--profile", prov_opts.profile, "The profile ('default' is the home)")
    ->required();
  provision->add_option("--homeserver", prov_opts.homeserver,
                        "The homeserver's URL, e.g. https://matrix.example.org")
    ->required();
  provision->add_option("--admin-token-file", prov_opts.admin_token_file,
                        "A file holding a Synapse admin's access token")
    ->required();
  provision->add_option("--user", prov_opts.user,
                        "The bot's localpart or MXID (default: hermes, or hermes-<profile>)");
  provision->add_option("--displayname", prov_opts.displayname,
                        "The bot's display name (default: Hermes, or Hermes <profile>)");
  provision->add_flag("--force", prov_opts.force,
                      "Replace existing credentials, and reset an existing account's password");
  provision->add_flag("--keep-rate-limit", prov_opts.keep_rate_limit,
                      "Leave the homeserver's message rate limit on for the bot (by default "
                      "provision lifts it with Synapse's override_ratelimit)");

  auto& cl = run_opts.cluster;
  auto* listen = run->add_option("--cluster-listen", cl.listen,
                                 "Be the cluster's coordinator, listening on HOST:PORT");
  auto* join = run->add_option("--cluster-join", cl.join,
                               "Be a worker node of the coordinator at HOST:PORT");
  listen->excludes(join);
  run->add_option("--node-name", cl.node_name,
                  "This node's name (required with --cluster-join; the coordinator's own "
                  "node is 'coordinator' unless named)");
  run->add_option("--cluster-secret-file", cl.secret_file,
                  "File holding the shared cluster secret (mode 0600; required in a cluster)");
  run->add_option("--cluster-cert", cl.cert, "TLS certificate (PEM) of this node");
  run->add_option("--cluster-key", cl.key, "TLS private key (PEM) of this node");
  run->add_option("--cluster-ca", cl.ca, "CA certificate (PEM) that signed the nodes' certificates");
  run->add_option("--lease-seconds", cl.lease_seconds,
                  "How long a node may serve a profile without renewing its lease")
    ->check(CLI::Range(1.0, 3600.0))
    ->capture_default_str();
  run->add_flag("--shared-storage", cl.shared_storage,
                "Every node sees the same HERMES_HOME: a lost node's profiles start elsewhere");
  run->add_option("--workers", cl.workers,
                  "Coordinator: run the profiles in this many local worker processes")
    ->check(CLI::Range(0u, 64u))
    ->needs(listen);

  // In a cluster, `status` asks the coordinator over the cluster link instead.
  status->add_option("--cluster-join", status_opts.cluster.join,
                     "Ask the cluster's coordinator at HOST:PORT (instead of the admin API)");
  auto* status_secret = status->add_option("--cluster-secret-file", status_opts.cluster.secret_file,
                                           "File holding the shared cluster secret");
  status->add_option("--cluster-cert", status_opts.cluster.cert, "TLS certificate (PEM)");
  status->add_option("--cluster-key", status_opts.cluster.key, "TLS private key (PEM)");
  status->add_option("--cluster-ca", status_opts.cluster.ca, "CA certificate (PEM)");
  status_secret->needs(status->get_option("--cluster-join"));
  status_opts.cluster.node_name = "status";

  hm::cluster_options move_opts;
  std::string move_profile, move_node;
  auto* move = app.add_subcommand("move", "Move a profile to another node of a cluster "
                                          "(with --shared-storage)");
  move->add_option("PROFILE", move_profile, "The profile to move")->required();
  move->add_option("NODE", move_node, "The node to serve it")->required();
  move->add_option("--cluster-join", move_opts.join, "The coordinator's HOST:PORT")->required();
  move->add_option("--cluster-secret-file", move_opts.secret_file,
                   "File holding the shared cluster secret")
    ->required();
  move->add_option("--cluster-cert", move_opts.cert, "TLS certificate (PEM)");
  move->add_option("--cluster-key", move_opts.key, "TLS private key (PEM)");
  move->add_option("--cluster-ca", move_opts.ca, "CA certificate (PEM)");
  move_opts.node_name = "move";

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? hm::exit_ok : hm::exit_usage;
  }
  if (*version) {
    std::cout << "hermes-matrix " << hm::version << '\n';
    return hm::exit_ok;
  }
  if (*check)
    return hm::check_command(check_sel);
  if (*run)
    return hm::run_command(run_opts);
  if (*status)
    return status_opts.cluster.join.empty() ? hm::status_command(status_opts)
                                            : hm::cluster_status_command(status_opts.cluster);
  if (*verify)
    return hm::verify_command(verify_opts);
  if (*login)
    return hm::login_command(login_opts);
  if (*provision)
    return hm::provision_command(prov_opts);
  if (*move)
    return hm::move_command(move_opts, move_profile, move_node);
  return hm::exit_usage;
}
