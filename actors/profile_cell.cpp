#include "actors/profile_cell.hpp"

#include "actors/profile_log.hpp"
#include "actors/profile_store.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace hm {

namespace {

struct profile_cell_state {
  profiles::profile_config config;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<profile_store> store;
  caf::timestamp started;

  ~profile_cell_state() {
    if (log && store)
      log->info("profile cell stopped; store closed");
  }

  static inline const char* name = "profile_cell";
};

using cell_pointer = profile_cell_actor::stateful_pointer<profile_cell_state>;

profile_cell_actor::behavior_type profile_cell(cell_pointer self, supervisor_actor supervisor,
                                               profiles::profile_config config) {
  auto& st = self->state;
  st.log = profile_logger(config.name, config.dir);
  st.config = std::move(config);
  st.started = caf::make_timestamp();
  auto opened = profile_store::open(profile_store::path_for(st.config.dir));
  if (auto* err = std::get_if<std::string>(&opened)) {
    st.log->error("cannot open the store: {}", *err);
    self->quit(make_error(errc::store_failed, *err));
    return {
      [](atom::status) { return profile_status{}; },
      [](atom::ping) { return atom::ping_v; },
    };
  }
  st.store = std::move(std::get<std::unique_ptr<profile_store>>(opened));
  st.log->info("profile cell started (store {})", st.store->path().string());
  self->send(supervisor, atom::ready_v, st.config.name, st.config.user_id,
             st.config.device_id);
  return {
    [self](atom::status) {
      profile_status s;
      s.profile = self->state.config.name;
      s.state = profile_state::running;
      s.user_id = self->state.config.user_id;
      s.device_id = self->state.config.device_id;
      s.since = self->state.started;
      return s;
    },
    [](atom::ping) { return atom::ping_v; },
  };
}

} // namespace

profile_cell_actor spawn_profile_cell(caf::actor_system& sys, supervisor_actor supervisor,
                                      const profiles::profile_config& config) {
  return sys.spawn(profile_cell, std::move(supervisor), config);
}

} // namespace hm
