#include "actor_lease.hpp"

#include "actors/http/engine.hpp"
#include "actors/node/etcd_lease.hpp"
#include "events.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <thread>

namespace hm {

namespace {

etcd_lease_listener_actor::behavior_type printer(etcd_lease_listener_actor::pointer,
                                                 int /*unused: spawned lambdas take one*/) {
  return {
    [](atom::granted, int64_t lease) { emit({{"event", "granted"}, {"lease", lease}}); },
    [](atom::lost, int64_t lease, const std::string& why) {
      emit({{"event", "lost"}, {"lease", lease}, {"why", why}});
    },
  };
}

} // namespace

int run_actor_lease(etcd::endpoints members, node_lease::settings settings,
                    std::chrono::seconds total, bool revoke) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::hermes_matrix>();
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto engine = spawn_http_engine(sys);
  auto listener = sys.spawn(printer, 0);
  auto lease = spawn_etcd_lease(sys, engine, etcd_lease_config{std::move(members), settings, {}},
                                listener);
  caf::scoped_actor self{sys};
  auto started = std::chrono::steady_clock::now();
  int64_t last_id = -1;
  bool last_live = false;
  while (std::chrono::steady_clock::now() - started < total) {
    self->request(lease, std::chrono::seconds{5}, atom::status_v)
      .receive(
        [&](int64_t id, bool live) {
          if (id != last_id || live != last_live)
            emit({{"event", "status"}, {"lease", id}, {"live", live}});
          last_id = id;
          last_live = live;
        },
        [&](const caf::error& err) {
          emit({{"event", "status_failed"}, {"error", sys.render(err)}});
        });
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  if (revoke) {
    self->request(lease, std::chrono::seconds{10}, atom::stop_v)
      .receive([](atom::ok) { emit({{"event", "revoked"}}); },
               [&](const caf::error& err) {
                 emit({{"event", "revoke_failed"}, {"error", sys.render(err)}});
               });
  }
  emit({{"event", "end"}, {"lease", last_id}, {"live", last_live}});
  self->send_exit(lease, caf::exit_reason::user_shutdown);
  self->send_exit(listener, caf::exit_reason::user_shutdown);
  self->send_exit(engine, caf::exit_reason::user_shutdown);
  return 0;
}

} // namespace hm
