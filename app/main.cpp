// hermes-matrix: one service that puts every Hermes Agent profile on Matrix as
// its own bot. This file is only the command line; the commands live beside it.

#include "app/commands.hpp"

#include "hm/version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

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

  hm::cluster_options status_opts;
  auto* status = app.add_subcommand("status", "Print the status of every profile of a cluster, "
                                              "asking its coordinator");
  status->add_option("--cluster-join", status_opts.join, "The coordinator's HOST:PORT")
    ->required();
  status->add_option("--cluster-secret-file", status_opts.secret_file,
                     "File holding the shared cluster secret")
    ->required();
  status->add_option("--cluster-cert", status_opts.cert, "TLS certificate (PEM)");
  status->add_option("--cluster-key", status_opts.key, "TLS private key (PEM)");
  status->add_option("--cluster-ca", status_opts.ca, "CA certificate (PEM)");
  status_opts.node_name = "status";

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
    return hm::status_command(status_opts);
  if (*move)
    return hm::move_command(move_opts, move_profile, move_node);
  return hm::exit_usage;
}
