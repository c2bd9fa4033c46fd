#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hm {

/// Exit codes, as conventional for Unix tools.
enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1, // a check failed, or the node could not run
  exit_usage = 2,   // bad command line
};

/// Which profiles a command works on.
struct profile_selection {
  std::filesystem::path hermes_home; // empty: $HERMES_HOME or ~/.hermes
  std::vector<std::string> names;    // empty: all
};

/// `hermes-matrix check`: validates the selected profiles and prints a table
/// and every problem; exit_ok when every selected profile on Matrix is usable.
int check_command(const profile_selection& selection);

/// How `run` takes part in a cluster (all empty: a single node, no cluster).
struct cluster_options {
  std::string listen;    // HOST:PORT: be the coordinator, listening there
  std::string join;      // HOST:PORT: be a worker of the coordinator there
  std::string node_name; // this node's name (required with join)
  std::filesystem::path secret_file;      // the shared secret (required)
  std::filesystem::path cert, key, ca;    // TLS when given
  double lease_seconds = 15;
  bool shared_storage = false; // every node sees the same HERMES_HOME
  unsigned workers = 0;        // coordinator: spawn this many local worker processes
  [[nodiscard]] bool enabled() const { return !listen.empty() || !join.empty(); }
};

struct run_options {
  profile_selection selection;
  std::string log_level = "info";
  cluster_options cluster;
};

/// `hermes-matrix run`: serves the selected profiles until SIGINT or SIGTERM.
int run_command(const run_options& options);

} // namespace hm

namespace hm {

/// `hermes-matrix status --cluster-join HOST:PORT --cluster-secret-file F`: asks
/// the coordinator for the status of every profile of the cluster and prints it.
int status_command(const cluster_options& options);

/// `hermes-matrix move PROFILE NODE --cluster-join HOST:PORT --cluster-secret-file F`:
/// the coordinator withdraws the profile from its node and starts it on NODE
/// (shared storage only); exit_failure with the reason when it cannot.
int move_command(const cluster_options& options, const std::string& profile,
                 const std::string& node);

} // namespace hm
