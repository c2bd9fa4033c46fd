#include "actors/node/etcd_lease.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <vector>

namespace hm {

namespace {

struct etcd_lease_state {
  // Declared, so that the state is no aggregate: C++20 would otherwise "construct" it
  // from the actor's pointer through its first member (CAF tries that first).
  etcd_lease_state() = default;
  static inline const char* name = "hm.etcd_lease";
  http_engine_actor engine;
  etcd_lease_listener_actor listener;
  std::optional<etcd::endpoints> members;
  secret token;
  std::optional<node_lease> lease;
  uint64_t next_call = 1;
  /// Names the latest timer: an older tick that arrives acts on nothing.
  uint64_t timer = 0;
  /// `stop` requests waiting for the revoke's answer.
  std::vector<caf::typed_response_promise<atom::ok>> stopping;
};

using self_pointer = etcd_lease_actor::stateful_pointer<etcd_lease_state>;

void apply(self_pointer self, node_lease::step step);

http_call to_http_call(self_pointer self, const etcd::request& r) {
  auto& st = self->state;
  http_call call;
  call.id = st.next_call++;
  call.method = "POST";
  call.url = st.members->current() + r.path;
  call.headers.emplace_back("Content-Type", "application/json");
  call.body = r.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // etcd's gateway takes the token as the whole header value (no "Bearer").
  call.authorization = st.token;
  call.timeout = st.lease->request_timeout();
  call.max_body_bytes = 1u << 20;
  return call;
}

/// Sends `c` to the current member; a request that gets no answer or `unavailable`
/// goes to the next member, each member tried once. The last answer goes to the machine.
void perform(self_pointer self, node_lease::call c, size_t attempt) {
  auto sent = self->clock().now();
  self->request(self->state.engine, caf::infinite, to_http_call(self, c.request))
    .then([self, c, attempt, sent](const http_result& res) {
      auto& ls = self->state;
      etcd::answer a{res.status, res.body, res.error};
      auto failed = etcd::answer_error(a);
      if (failed && etcd::try_next_member(*failed)) {
        auto from = ls.members->current();
        ls.members->fail_over(); // the next request starts elsewhere too
        spdlog::warn("cluster: etcd member {} did not serve {}: {}; trying {}", from,
                     c.request.path, to_string(*failed), ls.members->current());
        if (attempt + 1 < ls.members->size()) {
          perform(self, c, attempt + 1);
          return;
        }
      }
      auto now = self->clock().now();
      apply(self, ls.lease->on_answer(c, sent, a, now));
      if (c.what == node_lease::call::kind::revoke) {
        for (auto& promise : ls.stopping)
          promise.deliver(atom::ok_v);
        ls.stopping.clear();
      }
    });
}

void apply(self_pointer self, node_lease::step step) {
  auto& st = self->state;
  if (step.lost) {
    spdlog::error("cluster: the node's etcd lease is lost: {}", step.why);
    self->send(st.listener, atom::lost_v, step.lost_lease, step.why);
  } else if (!step.why.empty()) {
    spdlog::warn("cluster: etcd lease: {}", step.why);
  }
  if (step.granted) {
    spdlog::info("cluster: the node holds etcd lease {:x} (TTL {} s)", st.lease->id(),
                 st.lease->config().ttl.count());
    self->send(st.listener, atom::granted_v, st.lease->id());
  }
  if (step.send)
    perform(self, *step.send, 0);
  if (step.wake_at) {
    auto now = self->clock().now();
    auto delay = *step.wake_at > now ? *step.wake_at - now : caf::timespan{0};
    self->delayed_send(self, delay, atom::internal_v, atom::tick_v, ++st.timer);
  }
}

etcd_lease_actor::behavior_type etcd_lease(self_pointer self, http_engine_actor engine,
                                           etcd_lease_config config,
                                           etcd_lease_listener_actor listener) {
  auto& st = self->state;
  st.engine = std::move(engine);
  st.listener = std::move(listener);
  st.members = std::move(config.members);
  st.token = std::move(config.token);
  config.lease.members = static_cast<int>(st.members->size());
  st.lease.emplace(config.lease);
  if (!st.lease->settings_problem().empty())
    spdlog::warn("cluster: {}", st.lease->settings_problem());
  apply(self, st.lease->start(self->clock().now()));
  return {
    [self](atom::status) -> caf::result<int64_t, bool> {
      auto& lease = *self->state.lease;
      return caf::result<int64_t, bool>(lease.id(), lease.live(self->clock().now()));
    },
    [self](atom::stop) -> caf::result<atom::ok> {
      auto step = self->state.lease->revoke(self->clock().now());
      if (!step.send)
        return atom::ok_v;
      auto promise = self->make_response_promise<atom::ok>();
      self->state.stopping.push_back(promise);
      apply(self, std::move(step));
      return promise;
    },
    [self](atom::internal, atom::tick, uint64_t timer) {
      if (timer != self->state.timer)
        return;
      apply(self, self->state.lease->tick(self->clock().now()));
    },
  };
}

} // namespace

etcd_lease_actor spawn_etcd_lease(caf::actor_system& sys, http_engine_actor engine,
                                  etcd_lease_config config,
                                  etcd_lease_listener_actor listener) {
  return sys.spawn(etcd_lease, std::move(engine), std::move(config), std::move(listener));
}

} // namespace hm
