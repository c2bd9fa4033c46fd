#include "cluster/node_lease.hpp"

#include <algorithm>
#include <utility>

namespace hm {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

bool same_call(const node_lease::call& a, const node_lease::call& b) {
  return a.what == b.what && a.lease_id == b.lease_id;
}

std::string seconds_text(milliseconds d) {
  auto tenths = d.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

} // namespace

std::string_view to_string(node_lease::phase p) {
  switch (p) {
    case node_lease::phase::idle: return "idle";
    case node_lease::phase::granting: return "granting";
    case node_lease::phase::live: return "live";
    case node_lease::phase::revoking: return "revoking";
  }
  return "?";
}

node_lease::node_lease(settings s) : settings_(s) {
  if (settings_.ttl < std::chrono::seconds{2}) {
    settings_problem_ = "an etcd lease TTL below 2 s leaves no time for a keepalive; using 2 s";
    settings_.ttl = std::chrono::seconds{2};
  }
  auto ttl = milliseconds{settings_.ttl};
  if (settings_.margin < milliseconds{0} || settings_.margin * 3 >= ttl * 2) {
    settings_problem_ = "the lease safety margin must be below two thirds of the TTL; using a "
                        "quarter of it";
    settings_.margin = ttl / 4;
  }
}

milliseconds node_lease::keepalive_interval() const {
  return milliseconds{settings_.ttl} / 3;
}

milliseconds node_lease::retry_interval() const {
  return std::max(milliseconds{200}, milliseconds{settings_.ttl} / 20);
}

milliseconds node_lease::request_timeout() const {
  return std::max(milliseconds{300}, keepalive_interval() / 3);
}

milliseconds node_lease::unanswered_after() const {
  return request_timeout() * std::max(1, settings_.members) + milliseconds{100};
}

node_lease::step node_lease::wait_step() const {
  step s;
  std::optional<clock::time_point> wake;
  auto earliest = [&wake](clock::time_point t) {
    if (!wake || t < *wake)
      wake = t;
  };
  if (in_flight_)
    earliest(in_flight_since_ + unanswered_after());
  if (phase_ == phase::live)
    earliest(valid_until_);
  if (!in_flight_ && (phase_ == phase::live || phase_ == phase::granting))
    earliest(next_keepalive_);
  s.wake_at = wake;
  return s;
}

node_lease::step node_lease::send(call c, clock::time_point now) {
  in_flight_ = c;
  in_flight_since_ = now;
  auto s = wait_step();
  s.send = std::move(c);
  return s;
}

node_lease::step node_lease::lose(std::string why, clock::time_point now) {
  auto lost_lease = std::exchange(id_, 0);
  phase_ = phase::granting;
  in_flight_.reset(); // an answer about the old lease no longer matters
  auto s = send(call{call::kind::grant, 0, etcd::lease_grant(settings_.ttl)}, now);
  s.lost = true;
  s.lost_lease = lost_lease;
  s.why = std::move(why);
  return s;
}

node_lease::step node_lease::start(clock::time_point now) {
  if (phase_ != phase::idle)
    return wait_step();
  phase_ = phase::granting;
  return send(call{call::kind::grant, 0, etcd::lease_grant(settings_.ttl)}, now);
}

node_lease::step node_lease::revoke(clock::time_point now) {
  if (phase_ != phase::live) {
    phase_ = phase::idle;
    id_ = 0;
    in_flight_.reset();
    return {};
  }
  phase_ = phase::revoking;
  valid_until_ = now; // nothing runs under it from now on
  return send(call{call::kind::revoke, id_, etcd::lease_revoke(id_)}, now);
}

node_lease::step node_lease::tick(clock::time_point now) {
  if (phase_ == phase::live && now >= valid_until_)
    return lose("no keepalive answered for longer than the lease allows (TTL "
                    + std::to_string(settings_.ttl.count()) + " s less a margin of "
                    + seconds_text(settings_.margin) + ")",
                now);
  if (in_flight_ && now < in_flight_since_ + unanswered_after())
    return wait_step();
  in_flight_.reset(); // unanswered for too long: counts as not answered
  switch (phase_) {
    case phase::idle:
      return {};
    case phase::revoking:
      // Gave up waiting: the lease ends by itself when its TTL runs out.
      phase_ = phase::idle;
      id_ = 0;
      return {};
    case phase::granting:
      if (now >= next_keepalive_)
        return send(call{call::kind::grant, 0, etcd::lease_grant(settings_.ttl)}, now);
      return wait_step();
    case phase::live:
      if (now >= next_keepalive_)
        return send(call{call::kind::keepalive, id_, etcd::lease_keepalive(id_)}, now);
      return wait_step();
  }
  return wait_step();
}

node_lease::step node_lease::on_answer(const call& c, clock::time_point sent_at,
                                       const etcd::answer& a, clock::time_point now) {
  if (in_flight_ && same_call(*in_flight_, c))
    in_flight_.reset();
  switch (c.what) {
    case call::kind::grant: {
      if (phase_ != phase::granting)
        return wait_step(); // a late answer; that lease expires unused
      auto granted = etcd::parse_lease_grant(a);
      auto valid = granted ? sent_at + granted->ttl * std::chrono::seconds{1} - settings_.margin
                           : clock::time_point{};
      if (!granted || valid <= now) {
        next_keepalive_ = now + retry_interval();
        auto s = wait_step();
        s.why = granted ? std::string{"the lease was granted too late to be used"}
                        : "granting a lease failed: " + to_string(granted.error());
        return s;
      }
      id_ = granted->id;
      phase_ = phase::live;
      valid_until_ = valid;
      next_keepalive_ = sent_at + keepalive_interval();
      auto s = wait_step();
      s.granted = true;
      return s;
    }
    case call::kind::keepalive: {
      if (phase_ != phase::live || c.lease_id != id_)
        return wait_step();
      auto kept = etcd::parse_lease_keepalive(a);
      if (!kept) {
        if (kept.error().kind == etcd::error_kind::lease_not_found)
          return lose("etcd no longer knows the lease", now);
        next_keepalive_ = now + retry_interval();
        if (now >= valid_until_)
          return tick(now);
        auto s = wait_step();
        s.why = "keepalive failed: " + to_string(kept.error());
        return s;
      }
      if (kept->ttl <= 0)
        return lose("etcd says the lease has expired", now);
      valid_until_ = std::max(valid_until_,
                              sent_at + kept->ttl * std::chrono::seconds{1} - settings_.margin);
      next_keepalive_ = sent_at + keepalive_interval();
      return tick(now);
    }
    case call::kind::revoke:
      if (phase_ == phase::revoking) {
        phase_ = phase::idle;
        id_ = 0;
      }
      return {};
  }
  return wait_step();
}

} // namespace hm
