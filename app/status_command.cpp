#include "app/commands.hpp"

#include "actors/cluster_auth.hpp"
#include "app/cluster_setup.hpp"
#include "app/text_table.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <iostream>
#include <unistd.h>

namespace hm {

namespace {

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

} // namespace

int status_command(const cluster_options& options) {
  auto fail = [](const std::string& text) {
    std::cerr << "hermes-matrix status: " << text << '\n';
    return exit_failure;
  };
  if (auto err = check_cluster_options(options))
    return fail(error_text(err));
  auto where = parse_host_port(options.join);
  if (!where)
    return fail(error_text(where.error()));
  auto secret = read_cluster_secret(options.secret_file);
  if (!secret)
    return fail(error_text(secret.error()));
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
  auto client = "status-" + std::to_string(::getpid());
  std::vector<profile_status> list;
  caf::error problem;
  self->request(*coordinator, std::chrono::seconds{10}, atom::hello_v, client)
    .receive([&](const std::string& nonce) {
      self->request(*coordinator, std::chrono::seconds{10}, atom::status_v, client,
                    cluster_proof(*secret, client, nonce))
        .receive([&](std::vector<profile_status>& got) { list = std::move(got); },
                 [&](caf::error& err) { problem = std::move(err); });
    },
    [&](caf::error& err) { problem = std::move(err); });
  if (problem)
    return fail(error_text(problem));
  text_table table{{"PROFILE", "NODE", "STATE", "MATRIX USER", "DEVICE", "RESTARTS", "NOTE"}};
  for (auto& st : list)
    table.add_row({st.profile, or_dash(st.node), to_string(st.state), or_dash(st.user_id),
                   or_dash(st.device_id), std::to_string(st.restarts), or_dash(st.last_error)});
  table.print(std::cout);
  return exit_ok;
}

} // namespace hm
