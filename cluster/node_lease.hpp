#pragma once

// A node's liveness in etcd: one lease with a TTL, kept alive by the node, as a state
// machine without I/O. It says which etcd request to send and when to wake it again; the
// caller sends it (trying the next member on `etcd::try_next_member` errors) and hands
// the answer back with the time that attempt was sent.
//
// "Lost" is decided from the LOCAL clock, never from etcd's word alone: etcd counts a
// lease's TTL from when the leader received the last keepalive, which is never before we
// sent it. So once `TTL - margin` has passed since the send time of the last keepalive
// (or grant) that etcd answered with TTL > 0, the node must already have stopped its
// profiles: etcd cannot have expired the lease (and given an owner key to another node)
// before that moment, whatever the network did since. The margin is the time the node
// needs to stop, plus clock rate drift between the hosts.

#include "cluster/etcd_requests.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hm {

class node_lease {
public:
  using clock = std::chrono::steady_clock;

  struct settings {
    std::chrono::seconds ttl{10};
    /// Stop this long before etcd could expire the lease (see above).
    std::chrono::milliseconds margin{2000};
    /// How many members the caller tries one request on (each for `request_timeout`)
    /// before it hands back the last answer: the etcd cluster's size.
    int members = 3;
  };

  /// What the lease is doing now.
  enum class phase {
    idle,     ///< not started, or revoked
    granting, ///< a grant is under way; nothing may run
    live,     ///< granted and kept alive: the node may hold owner keys
    revoking, ///< stopping for good (drain, shutdown)
  };

  /// One request to perform.
  struct call {
    enum class kind { grant, keepalive, revoke };
    kind what = kind::grant;
    std::int64_t lease_id = 0; ///< the lease it is about (0 for a grant)
    etcd::request request;
  };

  /// What to do after an event.
  struct step {
    /// Send this now (at most one request is under way at a time).
    std::optional<call> send;
    /// Call `tick` at this time (the next keepalive, the moment the lease is lost).
    std::optional<clock::time_point> wake_at;
    /// A new lease was granted (its ID is `id()`): join again, claim again.
    bool granted = false;
    /// The lease was lost now: stop every profile at once (its owner keys are, or will
    /// soon be, gone). A new grant follows by itself.
    bool lost = false;
    /// With `lost`: the ID of the lease that was lost.
    std::int64_t lost_lease = 0;
    /// Why, for the log, when `lost` or something failed.
    std::string why;
  };

  /// Refuses a TTL below 2 s or a margin that leaves no keepalive before the deadline
  /// (margin >= TTL * 2/3): `why` says so and the settings are clamped.
  explicit node_lease(settings s);

  /// Starts: grants a lease.
  step start(clock::time_point now);

  /// The answer to `c`, sent at `sent_at` (the attempt that got it, when the caller
  /// tried several members). A network error is an answer too (status 0); the caller
  /// delivers one for every call. Should one never come, the machine sends again once
  /// every member could have had its `request_timeout` (`unanswered_after`).
  step on_answer(const call& c, clock::time_point sent_at, const etcd::answer& a,
                 clock::time_point now);

  /// Time passed: sends the next keepalive, declares the lease lost when its time is up.
  step tick(clock::time_point now);

  /// Stops for good: revokes the lease (its keys go at once). The node must have stopped
  /// or released its profiles first.
  step revoke(clock::time_point now);

  [[nodiscard]] phase current() const { return phase_; }
  /// The lease ID while granted (0 otherwise).
  [[nodiscard]] std::int64_t id() const { return id_; }
  /// Whether the node may run profiles under this lease now.
  [[nodiscard]] bool live(clock::time_point now) const {
    return phase_ == phase::live && now < valid_until_;
  }
  /// Until when the node may run profiles (by the local clock).
  [[nodiscard]] clock::time_point valid_until() const { return valid_until_; }
  /// How long the caller lets one request run before it counts as unanswered (and tries
  /// the next member): a third of the keepalive interval, at least 300 ms.
  [[nodiscard]] std::chrono::milliseconds request_timeout() const;
  /// When a call still unanswered counts as lost: every member's timeout, and a little.
  [[nodiscard]] std::chrono::milliseconds unanswered_after() const;
  [[nodiscard]] const settings& config() const { return settings_; }
  /// Set by the constructor when the settings were not usable as given.
  [[nodiscard]] const std::string& settings_problem() const { return settings_problem_; }

private:
  std::chrono::milliseconds keepalive_interval() const;
  std::chrono::milliseconds retry_interval() const;
  step send(call c, clock::time_point now);
  step lose(std::string why, clock::time_point now);
  step wait_step() const;

  settings settings_;
  std::string settings_problem_;
  phase phase_ = phase::idle;
  std::int64_t id_ = 0;
  clock::time_point valid_until_{};
  clock::time_point next_keepalive_{};
  /// The request under way and when it was handed out (for the request timeout).
  std::optional<call> in_flight_;
  clock::time_point in_flight_since_{};
};

[[nodiscard]] std::string_view to_string(node_lease::phase p);

} // namespace hm
