#include "app/commands.hpp"

#include "cluster/auth.hpp"
#include "app/cluster_setup.hpp"
#include "app/text_table.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <functional>
#include <iostream>
#include <unistd.h>

namespace hm {

namespace {

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

/// Connects to the coordinator, gets a nonce and calls `ask(coordinator, client, proof)`
/// in a scoped actor; prints an error and returns exit_failure when anything fails.
int with_coordinator(const cluster_options& options, const char* command,
                     const std::function<caf::error(caf::scoped_actor&, const coordinator_actor&,
                                                    const std::string&, const std::string&)>& ask) {
  auto fail = [command](const std::string& text) {
    std::cerr << "hermes-matrix " << command << ": " << text << '\n';
    return exit_failure;
  };
  if (auto err = check_cluster_options(options))
    return fail(error_text(err));
  auto where = parse_host_port(options.join);
  if (!where)
    return fail(error_text(where.error()));
  auto secret = read_cluster_secret(options.secret_file);
  if (!secret.error.empty())
    return fail(secret.error);
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::hermes_matrix>();
  cfg.add_error_category(error_category, render_error);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  configure_middleman(cfg, options);
  caf::actor_system sys{cfg};
  auto coordinator
    = options.cert.empty()
        ? sys.middleman().remote_actor<coordinator_actor>(where->host, where->port)
        : caf::openssl::remote_actor<coordinator_actor>(sys, where->host, where->port);
  if (!coordinator)
    return fail("cannot reach the coordinator at " + options.join + ": "
                + error_text(coordinator.error()));
  caf::scoped_actor self{sys};
  auto client = std::string{command} + "-" + std::to_string(::getpid());
  caf::error problem;
  self->request(*coordinator, std::chrono::seconds{10}, atom::hello_v, client)
    .receive([&](const std::string& nonce) {
      problem = ask(self, *coordinator, client, cluster_proof(secret.value, client, nonce));
    },
    [&](caf::error& err) { problem = std::move(err); });
  if (problem)
    return fail(error_text(problem));
  return exit_ok;
}

} // namespace

int cluster_status_command(const cluster_options& options) {
  std::vector<profile_status> list;
  auto rc = with_coordinator(options, "status", [&](caf::scoped_actor& self,
                                                    const coordinator_actor& coordinator,
                                                    const std::string& client,
                                                    const std::string& proof) {
    caf::error err;
    self->request(coordinator, std::chrono::seconds{10}, atom::status_v, client, proof)
      .receive([&](std::vector<profile_status>& got) { list = std::move(got); },
               [&](caf::error& e) { err = std::move(e); });
    return err;
  });
  if (rc != exit_ok)
    return rc;
  text_table table{{"PROFILE", "NODE", "STATE", "MATRIX USER", "DEVICE", "RESTARTS", "NOTE"}};
  for (auto& st : list)
    table.add_row({st.profile, or_dash(st.node), to_string(st.state), or_dash(st.user_id),
                   or_dash(st.device_id), std::to_string(st.restarts), or_dash(st.last_error)});
  table.print(std::cout);
  return exit_ok;
}

int move_command(const cluster_options& options, const std::string& profile,
                 const std::string& node) {
  return with_coordinator(options, "move", [&](caf::scoped_actor& self,
                                               const coordinator_actor& coordinator,
                                               const std::string& client,
                                               const std::string& proof) {
    caf::error err;
    self->request(coordinator, std::chrono::seconds{10}, atom::move_v, profile, node, client, proof)
      .receive([&](const std::string& what) { std::cout << what << '\n'; },
               [&](caf::error& e) { err = std::move(e); });
    return err;
  });
}

} // namespace hm
