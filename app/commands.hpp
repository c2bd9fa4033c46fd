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
  std::string metrics_listen = "127.0.0.1:9464"; ///< HOST:PORT, or "off"
  std::string admin_listen = "127.0.0.1:9465";    // "off": no admin API
  bool admin_listen_plaintext = false;            // allow a non-loopback admin address
  std::filesystem::path admin_tls_cert;           // PEM certificate (chain): serve https
  std::filesystem::path admin_tls_key;            // its private key, a 0600 file
  std::filesystem::path admin_token_file;          // empty: generated under the home
  std::string log_format = "text"; // or "json": one object per line
  cluster_options cluster;
};

/// `hermes-matrix run`: serves the selected profiles until SIGINT or SIGTERM
/// (SIGHUP reloads them).
int run_command(const run_options& options);

struct status_options {
  std::filesystem::path hermes_home;               // for the default token file
  std::string admin_url = "http://127.0.0.1:9465";
  std::filesystem::path admin_token_file;          // empty: <home>/hermes-matrix/admin-token
  std::filesystem::path admin_ca_file;             // trusted for an https admin URL
  bool json = false;
  cluster_options cluster; // with cluster.join: ask a cluster's coordinator instead
};

/// `hermes-matrix status`: prints the status table of a running service (from its
/// admin API); exit_failure when the service cannot be reached or refuses the token.
int status_command(const status_options& options);
struct verify_options {
  std::filesystem::path hermes_home;               // for the default token file
  std::string admin_url = "http://127.0.0.1:9465";
  std::filesystem::path admin_token_file;          // empty: <home>/hermes-matrix/admin-token
  std::filesystem::path admin_ca_file;             // trusted for an https admin URL
  std::string profile;
  std::string flow;        // empty: the one verification that waits for the operator
  bool confirm = false;    // the emoji match (scripts)
  bool reject = false;     // they do not (scripts)
  int timeout_seconds = 300;
};

/// `hermes-matrix verify`: waits for an SAS verification of a profile's device to
/// show its emoji, shows them and takes the operator's answer (or --confirm/--reject);
/// exit_ok when verified (or rejected as asked), exit_failure when not (cancelled, no
/// answer in time: cancelled with m.timeout), exit_usage for a bad command line.
int verify_command(const verify_options& options);

struct login_options {
  std::filesystem::path hermes_home; // empty: $HERMES_HOME or ~/.hermes
  std::string profile;
  std::string user;                  // empty: the profile's MATRIX_USER_ID
  bool password_stdin = false;
  bool force = false;
};

/// `hermes-matrix login`: password login for a profile's bot; writes
/// MATRIX_ACCESS_TOKEN, MATRIX_USER_ID and MATRIX_DEVICE_ID into its .env.
int login_command(const login_options& options);

struct provision_options {
  std::filesystem::path hermes_home;
  std::string profile;
  std::string homeserver;
  std::filesystem::path admin_token_file;
  std::string user;        // localpart or MXID; empty: hermes / hermes-<profile>
  std::string displayname; // empty: Hermes / Hermes <profile>
  bool force = false;
  bool keep_rate_limit = false; // leave Synapse's message rate limit on for the bot
};

/// `hermes-matrix provision`: creates the bot's account through Synapse's
/// admin API, logs it in and writes the profile's Matrix settings.
int provision_command(const provision_options& options);

} // namespace hm

namespace hm {

/// `hermes-matrix status --cluster-join HOST:PORT --cluster-secret-file F`: asks
/// the coordinator for the status of every profile of the cluster and prints it.
int cluster_status_command(const cluster_options& options);

/// `hermes-matrix move PROFILE NODE --cluster-join HOST:PORT --cluster-secret-file F`:
/// the coordinator withdraws the profile from its node and starts it on NODE
/// (shared storage only); exit_failure with the reason when it cannot.
int move_command(const cluster_options& options, const std::string& profile,
                 const std::string& node);

} // namespace hm
