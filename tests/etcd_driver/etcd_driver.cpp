// hm-etcd-driver: runs the cluster's etcd machines (cluster/node_lease,
// cluster/profile_ownership over cluster/etcd_requests) against a real etcd, with
// blocking libcurl calls, for tests/integration/test_etcd.py. Test tooling only: the
// product performs the same requests through the http engine.
//
//   hm-etcd-driver lease --endpoints URLS --ttl S [--margin-ms M] --seconds S
//     keeps one lease alive for S seconds
//   hm-etcd-driver actor-lease --endpoints URLS --ttl S [--margin-ms M] --seconds S [--release]
//     the same through the product's etcd_lease actor and http engine
//   hm-etcd-driver claim --endpoints URLS --cluster C --node N --profile P --ttl S
//                        [--margin-ms M] --seconds S [--release]
//     keeps a lease, joins, claims P until owned (every 200 ms), holds it until S seconds
//     have passed, then releases it and revokes the lease when --release is given
//
// Prints one JSON object per line (events); times ("t", "valid_until") are seconds of
// CLOCK_MONOTONIC, comparable with Python's time.monotonic() on the same host.

#include "cluster/etcd_requests.hpp"
#include "cluster/node_lease.hpp"
#include "cluster/profile_ownership.hpp"

#include "actor_lease.hpp"
#include "events.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using namespace hm;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double seconds(clock_type::time_point t) {
  return monotonic_seconds(t);
}

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct raw_answer {
  int status = 0;
  std::string body;
  std::string transport_error;
  [[nodiscard]] etcd::answer view() const { return {status, body, transport_error}; }
};

raw_answer post(const std::string& base, const etcd::request& r,
                std::chrono::milliseconds timeout) {
  raw_answer out;
  CURL* curl = curl_easy_init();
  auto url = base + r.path;
  auto body = r.body.dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  auto rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    out.status = static_cast<int>(status);
  } else {
    out.transport_error = curl_easy_strerror(rc);
    out.body.clear();
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

/// Sends `r` to the current member; on no answer or `unavailable`, to the next one, each
/// member at most once. Returns the last answer and when the answered attempt was sent.
struct member_caller {
  etcd::endpoints members;

  std::pair<raw_answer, clock_type::time_point> call(const etcd::request& r,
                                                     std::chrono::milliseconds timeout) {
    raw_answer last;
    auto sent = clock_type::now();
    for (size_t attempt = 0; attempt < members.size(); ++attempt) {
      sent = clock_type::now();
      last = post(members.current(), r, timeout);
      auto e = etcd::answer_error(last.view());
      if (!e || !etcd::try_next_member(*e))
        break;
      auto from = members.current();
      members.fail_over();
      emit({{"event", "failover"}, {"from", from}, {"to", members.current()},
            {"path", r.path}, {"error", to_string(*e)}});
    }
    return {last, sent};
  }
};

std::map<std::string, std::string> options(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (!arg.starts_with("--"))
      continue;
    if (i + 1 < argc && std::string{argv[i + 1]}.rfind("--", 0) != 0)
      out[arg.substr(2)] = argv[++i];
    else
      out[arg.substr(2)] = "1";
  }
  return out;
}

/// The lease's event loop, with `between` run after every step while the lease is live;
/// when it returns true, the lease is revoked (through the machine) and the loop ends.
template <class Between>
int run(member_caller& etcd_members, node_lease& lease, std::chrono::seconds total,
        Between&& between) {
  auto started = clock_type::now();
  auto step = lease.start(started);
  int lost = 0;
  while (clock_type::now() - started < total) {
    if (step.lost) {
      ++lost;
      emit({{"event", "lost"}, {"why", step.why}});
    }
    if (step.granted)
      emit({{"event", "granted"}, {"lease", lease.id()},
            {"valid_until", seconds(lease.valid_until())}});
    if (!step.why.empty() && !step.lost)
      emit({{"event", "trouble"}, {"why", step.why}});
    if (step.send) {
      auto call = *step.send;
      auto [answer, sent_at] = etcd_members.call(call.request, lease.request_timeout());
      step = lease.on_answer(call, sent_at, answer.view(), clock_type::now());
      if (call.what == node_lease::call::kind::keepalive && lease.live(clock_type::now()))
        emit({{"event", "kept"}, {"lease", lease.id()}, {"member", etcd_members.members.current()},
              {"valid_until", seconds(lease.valid_until())}});
      continue;
    }
    if (lease.live(clock_type::now()) && between()) {
      step = lease.revoke(clock_type::now());
      if (step.send) {
        auto call = *step.send;
        auto [answer, sent_at] = etcd_members.call(call.request, lease.request_timeout());
        step = lease.on_answer(call, sent_at, answer.view(), clock_type::now());
        emit({{"event", "revoked"}, {"status", answer.status},
              {"phase", to_string(lease.current())}});
      }
      break;
    }
    auto wake = step.wake_at.value_or(clock_type::now() + std::chrono::milliseconds{100});
    wake = std::min(wake, clock_type::now() + std::chrono::milliseconds{200});
    std::this_thread::sleep_until(wake);
    step = lease.tick(clock_type::now());
  }
  emit({{"event", "end"}, {"lease", lease.id()}, {"live", lease.live(clock_type::now())},
        {"lost", lost}, {"valid_until", seconds(lease.valid_until())}});
  return 0;
}

int usage() {
  std::cerr << "usage: hm-etcd-driver lease|actor-lease|claim --endpoints URLS --ttl S --seconds S "
               "[--margin-ms M] [--cluster C --node N --profile P [--release]]\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  std::string command = argv[1];
  auto opt = options(argc, argv);
  std::string why;
  auto members = etcd::endpoints::parse(opt["endpoints"], why);
  if (!members) {
    std::cerr << why << "\n";
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  node_lease::settings s;
  s.ttl = std::chrono::seconds{std::atoi(opt.count("ttl") ? opt["ttl"].c_str() : "10")};
  if (opt.count("margin-ms"))
    s.margin = std::chrono::milliseconds{std::atoi(opt["margin-ms"].c_str())};
  s.members = static_cast<int>(members->size());
  node_lease lease{s};
  if (!lease.settings_problem().empty())
    emit({{"event", "settings"}, {"why", lease.settings_problem()}});
  auto total = std::chrono::seconds{std::atoi(opt.count("seconds") ? opt["seconds"].c_str()
                                                                    : "10")};
  member_caller etcd_members{*members};
  auto request_timeout = std::chrono::milliseconds{2000};

  if (command == "lease")
    return run(etcd_members, lease, total, [] { return false; });
  if (command == "actor-lease")
    return run_actor_lease(*members, s, total, opt.count("release") > 0);
  if (command != "claim")
    return usage();

  auto keys = cluster_keys::make(opt["cluster"], why);
  if (!keys) {
    std::cerr << why << "\n";
    return 2;
  }
  std::string node = opt["node"], profile = opt["profile"];
  std::int64_t joined_lease = 0, owned_lease = 0, epoch = 0;
  bool reported_taken = false;
  auto started = clock_type::now();
  auto hold_until = started + total - std::chrono::milliseconds{300};
  bool release = opt.count("release") > 0;
  bool released = false;
  auto rc = run(etcd_members, lease, total, [&] {
    auto now = clock_type::now();
    if (released)
      return true;
    if (release && owned_lease != 0 && now >= hold_until) {
      auto [answer, sent] = etcd_members.call(hm::release(*keys, profile, epoch),
                                              request_timeout);
      auto r = parse_release(answer.view());
      emit({{"event", "released"}, {"ok", r.has_value() && r.value()}, {"epoch", epoch}});
      released = true;
      return true;
    }
    if (joined_lease != lease.id()) {
      node_record self{node, {{profile, "", false}}, 0};
      auto [answer, sent] = etcd_members.call(join(*keys, self, lease.id()), request_timeout);
      if (etcd::parse_put(answer.view())) {
        joined_lease = lease.id();
        emit({{"event", "joined"}, {"lease", lease.id()}});
      }
    }
    if (owned_lease == lease.id())
      return false;
    static auto next_claim = clock_type::time_point{};
    if (now < next_claim)
      return false;
    next_claim = now + std::chrono::milliseconds{200};
    auto [answer, sent] = etcd_members.call(claim(*keys, profile, node, lease.id()),
                                            request_timeout);
    auto r = parse_claim(answer.view(), profile, node, lease.id());
    if (!r) {
      emit({{"event", "claim_failed"}, {"error", to_string(r.error())}});
      return false;
    }
    using outcome = claim_result::outcome;
    switch (r->result) {
      case outcome::owned:
        owned_lease = lease.id();
        epoch = r->owner.epoch;
        emit({{"event", "owned"}, {"profile", profile}, {"epoch", epoch}, {"lease", lease.id()},
              {"valid_until", seconds(lease.valid_until())}});
        break;
      case outcome::taken:
        if (!reported_taken)
          emit({{"event", "taken"}, {"owner", r->owner.node}, {"epoch", r->owner.epoch}});
        reported_taken = true;
        break;
      case outcome::stale_ours: {
        auto [back, when] = etcd_members.call(take_back(*keys, profile, node, r->owner.epoch),
                                              request_timeout);
        auto done = parse_release(back.view());
        emit({{"event", "took_back"}, {"ok", done.has_value() && done.value()},
              {"epoch", r->owner.epoch}});
        next_claim = now;
        break;
      }
      case outcome::vanished:
        next_claim = now;
        break;
    }
    return false;
  });
  curl_global_cleanup();
  return rc;
}
