#define CAF_SUITE supervisor

#include "actors/node/supervisor.hpp"
#include "messages/errors.hpp"
#include "metrics/node_metrics.hpp"
#include "tests/unit/metrics/scrape.hpp"

#include "caf/test/dsl.hpp"

#include <caf/all.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <variant>

using namespace std::chrono_literals;
using namespace hm;

namespace {

// Test cells: `ok` cells report ready and answer pings; `crash_after` cells
// report ready, then end with errc::internal after a delay of virtual time
// (0 = at once, before reporting ready); `fatal` cells end with a reason that
// must not be restarted; `stubborn` cells ignore exit messages.
struct cell_script {
  enum kind { ok, crash_after, fatal, stubborn } what = ok;
  caf::timespan delay{0};
};

CAF_ADD_ATOM(hermes_matrix_test, test_atom, crash, "crash")

caf::behavior test_cell(caf::event_based_actor* self, cell_script script,
                        supervisor_actor parent, std::string name) {
  if (script.what == cell_script::crash_after && script.delay == caf::timespan{0}) {
    self->quit(make_error(errc::internal, "crashed while starting"));
    return {};
  }
  if (script.what == cell_script::fatal) {
    self->quit(make_error(errc::unauthorized, "the homeserver rejected the token"));
    return {};
  }
  if (script.what == cell_script::stubborn)
    self->set_exit_handler([](caf::exit_msg&) { /* refuses to stop */ });
  self->send(parent, cell_ready{name, "@" + name + ":example.org", "DEV"});
  if (script.what == cell_script::crash_after)
    self->delayed_send(self, script.delay, test_atom::crash_v);
  return {
    [](atom::ping) { return atom::ping_v; },
    [self](test_atom::crash) { self->quit(make_error(errc::internal, "crashed while running")); },
    // What a real cell knows of itself: it has synced, and three sends wait.
    [name](atom::status) {
      profile_status own;
      own.profile = name;
      own.synced = true;
      own.last_sync = caf::timestamp{std::chrono::hours{1}};
      own.outbox_queue = 3;
      return own;
    },
    [name](atom::notify, const notification& n) {
      return "txn:" + name + ":" + n.body + ":" + n.format;
    },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::filesystem::path dir;
  std::map<std::string, cell_script> scripts;
  std::map<std::string, profile_cell_actor> cells; // the latest cell of each profile
  std::map<std::string, int> spawns;
  supervision_policy policy;
  supervisor_actor sup;
  std::shared_ptr<metrics::node_metrics> node_metrics = std::make_shared<metrics::node_metrics>();

  fixture() {
    dir = std::filesystem::temp_directory_path()
          / ("hm-supervisor-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }

  ~fixture() override {
    if (sup)
      anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
    std::filesystem::remove_all(dir);
  }

  static profiles::loaded_profile profile(const std::string& name,
                                          const std::filesystem::path& dir) {
    profiles::loaded_profile lp;
    lp.config.name = name;
    lp.config.dir = dir / name;
    lp.config.homeserver = "https://matrix.example.org";
    lp.config.access_token = secret{"syt_test_" + name};
    return lp;
  }

  cell_factory factory() {
    return [this](caf::actor_system& system, supervisor_actor parent,
                  const profiles::profile_config& config) {
      ++spawns[config.name];
      auto typed = caf::actor_cast<profile_cell_actor>(
        system.spawn(test_cell, scripts[config.name], parent, config.name));
      cells[config.name] = typed;
      return typed;
    };
  }

  void start(const std::vector<std::string>& names,
             std::vector<profiles::loaded_profile> extra = {}) {
    std::vector<profiles::loaded_profile> all;
    for (auto& n : names)
      all.push_back(profile(n, dir));
    for (auto& lp : extra)
      all.push_back(std::move(lp));
    sup = spawn_supervisor(sys, std::move(all), policy, factory(), node_metrics);
    sched.run();
  }

  std::map<std::string, profile_status> statuses() {
    std::map<std::string, profile_status> result;
    auto response = self->request(sup, caf::infinite, atom::status_v);
    sched.run();
    response.receive(
      [&](const std::vector<profile_status>& all) {
        for (auto& s : all)
          result[s.profile] = s;
      },
      [&](const caf::error& err) { CAF_FAIL("status request failed: " << sys.render(err)); });
    return result;
  }

  /// By value: CAF_CHECK_EQUAL keeps a reference to its argument, which must
  /// not point into a map that is already gone.
  profile_status status_of(const std::string& name) {
    return statuses()[name];
  }

  /// A series of a profile in the supervisor's metrics.
  double metric(const std::string& family, const std::string& profile,
                metrics::test::label_set labels = {}) {
    labels["profile"] = profile;
    return metrics::test::value(*node_metrics->registry(), family, labels);
  }

  /// The supervisor's answer to a notification: the txn id, or the error's code.
  std::variant<std::string, errc> notify(const std::string& name, const std::string& body) {
    std::variant<std::string, errc> result = errc::none;
    auto response = self->request(sup, caf::infinite, atom::notify_v, name,
                                  notification{body, "markdown", ""});
    sched.run();
    response.receive([&](const std::string& txn) { result = txn; },
                     [&](const caf::error& err) { result = static_cast<errc>(err.code()); });
    return result;
  }

  bool answers(const std::string& name) {
    bool answered = false;
    auto response = self->request(cells[name], caf::infinite, atom::ping_v);
    sched.run();
    response.receive([&](atom::ping) { answered = true; },
                     [&](const caf::error&) { answered = false; });
    return answered;
  }

  /// Sends `fresh` as a reload and returns the supervisor's summary.
  reload_summary reload(std::vector<profiles::loaded_profile> fresh) {
    reload_summary result;
    auto shared = std::make_shared<const std::vector<profiles::loaded_profile>>(std::move(fresh));
    auto response = self->request(sup, caf::infinite, atom::reload_v, profile_reload{shared});
    sched.run();
    response.receive([&](reload_summary& summary) { result = std::move(summary); },
                     [&](const caf::error& err) { CAF_FAIL("reload failed: " << sys.render(err)); });
    sched.run();
    return result;
  }

  std::vector<profiles::loaded_profile> profiles_named(const std::vector<std::string>& names) {
    std::vector<profiles::loaded_profile> all;
    for (auto& n : names)
      all.push_back(profile(n, dir));
    return all;
  }

  /// Profile names in the order the supervisor reports them.
  std::vector<std::string> order() {
    std::vector<std::string> names;
    auto response = self->request(sup, caf::infinite, atom::status_v);
    sched.run();
    response.receive(
      [&](const std::vector<profile_status>& all) {
        for (auto& s : all)
          names.push_back(s.profile);
      },
      [&](const caf::error& err) { CAF_FAIL("status request failed: " << sys.render(err)); });
    return names;
  }

  /// Whether this particular cell (not the profile's latest one) still answers.
  bool cell_answers(const profile_cell_actor& cell) {
    bool answered = false;
    auto response = self->request(cell, caf::infinite, atom::ping_v);
    sched.run();
    response.receive([&](atom::ping) { answered = true; },
                     [&](const caf::error&) { answered = false; });
    return answered;
  }

  /// Advances virtual time in small steps, delivering all messages after each.
  void elapse(caf::timespan total, caf::timespan step = 500ms) {
    for (caf::timespan t{0}; t < total; t += step) {
      advance_time(step);
      sched.run();
    }
  }
};

} // namespace

CAF_TEST(backoff doubles from one second up to five minutes) {
  supervision_policy policy;
  std::vector<int64_t> seconds;
  for (uint32_t streak = 1; streak <= 11; ++streak)
    seconds.push_back(std::chrono::duration_cast<std::chrono::seconds>(
                        restart_backoff(policy, streak))
                        .count());
  std::vector<int64_t> expected{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
  CAF_CHECK_EQUAL(seconds, expected);
}

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(every usable profile gets a running cell) {
  start({"coder", "default", "locallama"});
  auto st = statuses();
  CAF_REQUIRE_EQUAL(st.size(), 3u);
  for (auto& [name, s] : st) {
    CAF_MESSAGE(name);
    CAF_CHECK_EQUAL(s.state, profile_state::running);
    CAF_CHECK_EQUAL(s.user_id, "@" + name + ":example.org");
    CAF_CHECK(answers(name));
  }
}

CAF_TEST(a crashing cell is restarted with growing backoff while the others answer) {
  // "victim" runs 20 s (longer than the immediate window, shorter than the
  // healthy period) and then crashes, over and over.
  scripts["victim"] = {cell_script::crash_after, 20s};
  start({"alpha", "beta", "victim"});
  std::vector<caf::timespan> waits;
  for (int round = 0; round < 11; ++round) {
    elapse(20s);
    auto st = statuses();
    CAF_REQUIRE_EQUAL(st["victim"].state, profile_state::backoff);
    waits.push_back(st["victim"].next_restart_in);
    CAF_CHECK_EQUAL(st["victim"].restarts, static_cast<uint32_t>(round + 1));
    CAF_CHECK_EQUAL(st["victim"].last_error, "crashed while running");
    // The other two are untouched: same cell, still answering.
    CAF_CHECK_EQUAL(spawns["alpha"], 1);
    CAF_CHECK_EQUAL(spawns["beta"], 1);
    CAF_CHECK(answers("alpha"));
    CAF_CHECK(answers("beta"));
    CAF_CHECK_EQUAL(st["alpha"].state, profile_state::running);
    CAF_CHECK_EQUAL(st["beta"].state, profile_state::running);
    // Just before the backoff ends the victim is still down; right after, up.
    elapse(waits.back() - 500ms);
    CAF_CHECK_EQUAL(status_of("victim").state, profile_state::backoff);
    elapse(500ms);
    CAF_CHECK_EQUAL(status_of("victim").state, profile_state::running);
  }
  std::vector<caf::timespan> expected{1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 300s, 300s};
  CAF_CHECK_EQUAL(waits, expected);
  CAF_CHECK_EQUAL(spawns["victim"], 12);
}

CAF_TEST(the backoff starts over after a healthy period) {
  scripts["victim"] = {cell_script::crash_after, 20s};
  start({"victim"});
  elapse(20s);
  elapse(1s);  // restart 1
  elapse(20s);
  CAF_CHECK_EQUAL(status_of("victim").next_restart_in, caf::timespan{2s});
  // The next run lasts longer than the healthy period before it crashes.
  scripts["victim"] = {cell_script::crash_after, policy.healthy_after + 10s};
  elapse(2s); // restart 2
  CAF_CHECK_EQUAL(status_of("victim").state, profile_state::running);
  elapse(policy.healthy_after + 10s);
  CAF_CHECK_EQUAL(status_of("victim").state, profile_state::backoff);
  CAF_CHECK_EQUAL(status_of("victim").next_restart_in, caf::timespan{1s});
}

CAF_TEST(repeated immediate crashes mark the profile failed and spare the others) {
  scripts["victim"] = {cell_script::crash_after, caf::timespan{0}};
  start({"alpha", "victim"});
  elapse(10min);
  auto st = statuses();
  CAF_CHECK_EQUAL(st["victim"].state, profile_state::failed);
  CAF_CHECK_EQUAL(spawns["victim"], static_cast<int>(policy.max_immediate_crashes));
  CAF_CHECK_EQUAL(st["victim"].last_error, "crashed while starting");
  CAF_CHECK_EQUAL(st["alpha"].state, profile_state::running);
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
  CAF_CHECK(answers("alpha"));
}

CAF_TEST(a cell stopping for a reason a restart cannot fix stays stopped) {
  scripts["victim"] = {cell_script::fatal, {}};
  start({"alpha", "victim"});
  elapse(10min);
  auto st = statuses();
  CAF_CHECK_EQUAL(st["victim"].state, profile_state::stopped);
  CAF_CHECK_EQUAL(st["victim"].last_error, "the homeserver rejected the token");
  CAF_CHECK_EQUAL(spawns["victim"], 1);
  CAF_CHECK_EQUAL(st["alpha"].state, profile_state::running);
}

CAF_TEST(profiles with configuration errors are reported invalid and never started) {
  auto broken = profile("broken", dir);
  broken.issues.push_back({profiles::problem::severity::error, dir / "broken/.env", 3,
                           "MATRIX_HOMESERVER", "not a URL", "write https://host"});
  start({"alpha"}, {broken});
  auto st = statuses();
  CAF_CHECK_EQUAL(st["broken"].state, profile_state::invalid);
  CAF_CHECK_NOT_EQUAL(st["broken"].last_error.find("MATRIX_HOMESERVER"), std::string::npos);
  CAF_CHECK_EQUAL(spawns.count("broken"), 0u);
  CAF_CHECK_EQUAL(st["alpha"].state, profile_state::running);
}

CAF_TEST(the metrics show each profile up or down with its state and restarts) {
  scripts["victim"] = {cell_script::crash_after, 20s};
  scripts["revoked"] = {cell_script::fatal, {}};
  auto broken = profile("broken", dir);
  broken.issues.push_back({profiles::problem::severity::error, dir / "broken/.env", 3,
                           "MATRIX_HOMESERVER", "not a URL", "write https://host"});
  start({"alpha", "victim", "revoked"}, {broken});
  auto state = [&](const std::string& p, const std::string& s) {
    return metric("hermes_matrix_profile_state", p, {{"state", s}});
  };
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "alpha"), 1);
  CAF_CHECK_EQUAL(state("alpha", "running"), 1);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "victim"), 1);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "revoked"), 0);
  CAF_CHECK_EQUAL(state("revoked", "stopped"), 1);
  CAF_CHECK_EQUAL(state("revoked", "running"), 0);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "broken"), 0);
  CAF_CHECK_EQUAL(state("broken", "invalid"), 1);
  // The victim crashes: down, in backoff, one restart counted; then up again.
  elapse(20s);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "victim"), 0);
  CAF_CHECK_EQUAL(state("victim", "backoff"), 1);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_restarts_total", "victim"), 1);
  elapse(1s);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_up", "victim"), 1);
  CAF_CHECK_EQUAL(state("victim", "backoff"), 0);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_restarts_total", "alpha"), 0);
  CAF_CHECK_EQUAL(metric("hermes_matrix_profile_restarts_total", "revoked"), 0);
}

CAF_TEST(shutdown stops every cell and then the supervisor) {
  start({"alpha", "beta"});
  self->monitor(sup);
  anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  bool down = false;
  self->receive([&](caf::down_msg& msg) {
    down = true;
    CAF_CHECK_EQUAL(msg.reason, caf::exit_reason::user_shutdown);
  }, caf::after(std::chrono::seconds{0}) >> [] {});
  CAF_CHECK(down);
  CAF_CHECK(!answers("alpha"));
  CAF_CHECK(!answers("beta"));
  sup = nullptr;
}

CAF_TEST(a cell that ignores shutdown is killed after the grace period) {
  scripts["stuck"] = {cell_script::stubborn, {}};
  start({"alpha", "stuck"});
  self->monitor(sup);
  anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(answers("stuck")); // still there during the grace period
  elapse(policy.shutdown_grace + 1s);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds{0}) >> [] {});
  CAF_CHECK(down);
  CAF_CHECK(!answers("stuck"));
  sup = nullptr;
}

CAF_TEST(the status merges what each running cell reports of itself) {
  scripts["down"] = {cell_script::fatal, {}};
  start({"alpha", "down"});
  auto st = statuses();
  CAF_CHECK(st["alpha"].synced);
  CAF_CHECK_EQUAL(st["alpha"].outbox_queue, 3u);
  CAF_CHECK(st["alpha"].last_sync == caf::timestamp{std::chrono::hours{1}});
  // A stopped profile has no cell to ask: it shows the supervisor's view only.
  CAF_CHECK_EQUAL(st["down"].state, profile_state::stopped);
  CAF_CHECK(!st["down"].synced);
  CAF_CHECK_EQUAL(st["down"].outbox_queue, 0u);
}

CAF_TEST(a profile in backoff still shows the last sync of its cell) {
  scripts["victim"] = {cell_script::crash_after, 20s};
  start({"victim"});
  CAF_CHECK(status_of("victim").synced);
  elapse(20s);
  auto down = status_of("victim");
  CAF_CHECK_EQUAL(down.state, profile_state::backoff);
  CAF_CHECK(!down.synced);
  CAF_CHECK(down.last_sync == caf::timestamp{std::chrono::hours{1}});
}

CAF_TEST(a notification goes to the running cell of its profile and nowhere else) {
  scripts["down"] = {cell_script::fatal, {}};
  start({"alpha", "beta", "down"});
  auto sent = notify("beta", "backup done");
  CAF_REQUIRE(std::holds_alternative<std::string>(sent));
  CAF_CHECK_EQUAL(std::get<std::string>(sent), "txn:beta:backup done:markdown");
  auto unknown = notify("nosuch", "x");
  CAF_REQUIRE(std::holds_alternative<errc>(unknown));
  CAF_CHECK_EQUAL(to_string(std::get<errc>(unknown)), std::string{"unknown_profile"});
  auto stopped = notify("down", "x");
  CAF_REQUIRE(std::holds_alternative<errc>(stopped));
  CAF_CHECK_EQUAL(to_string(std::get<errc>(stopped)), std::string{"unavailable"});
}

CAF_TEST(a reload starts added profiles and stops removed ones and restarts changed ones) {
  start({"alpha", "beta", "gamma"});
  auto alpha = cells["alpha"];
  auto beta = cells["beta"];
  auto gamma = cells["gamma"];
  auto fresh = profiles_named({"alpha", "beta", "delta"});
  fresh[1].config.home_room = "!moved:example.org"; // beta changed
  auto summary = reload(std::move(fresh));
  using names = std::vector<std::string>;
  CAF_CHECK_EQUAL(summary.added, names{"delta"});
  CAF_CHECK_EQUAL(summary.removed, names{"gamma"});
  CAF_CHECK_EQUAL(summary.changed, names{"beta"});
  CAF_CHECK_EQUAL(summary.unchanged, names{"alpha"});
  CAF_CHECK(summary.retried.empty());
  // alpha: the same cell, never restarted, still answering.
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
  CAF_CHECK(cells["alpha"] == alpha);
  CAF_CHECK(cell_answers(alpha));
  // beta: the old cell is gone, a new one serves the new config.
  CAF_CHECK_EQUAL(spawns["beta"], 2);
  CAF_CHECK(!cell_answers(beta));
  CAF_CHECK(answers("beta"));
  // gamma: stopped and forgotten; delta: started.
  CAF_CHECK(!cell_answers(gamma));
  CAF_CHECK_EQUAL(spawns["delta"], 1);
  CAF_CHECK(answers("delta"));
  CAF_CHECK_EQUAL(order(), (names{"alpha", "beta", "delta"}));
  auto st = statuses();
  CAF_CHECK_EQUAL(st["alpha"].state, profile_state::running);
  CAF_CHECK_EQUAL(st["alpha"].restarts, 0u);
  CAF_CHECK_EQUAL(st["beta"].state, profile_state::running);
  CAF_CHECK_EQUAL(st["delta"].state, profile_state::running);
}

CAF_TEST(a reload with nothing changed touches no cell) {
  start({"alpha", "beta"});
  auto alpha = cells["alpha"];
  auto beta = cells["beta"];
  auto summary = reload(profiles_named({"alpha", "beta"}));
  CAF_CHECK_EQUAL(summary.unchanged, (std::vector<std::string>{"alpha", "beta"}));
  CAF_CHECK(summary.added.empty() && summary.removed.empty() && summary.changed.empty());
  elapse(30s);
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
  CAF_CHECK_EQUAL(spawns["beta"], 1);
  CAF_CHECK(cell_answers(alpha));
  CAF_CHECK(cell_answers(beta));
}

CAF_TEST(a changed profile starts again only after its old cell has stopped) {
  // The old cell holds the profile's store; a second cell on it would fight
  // for the lock. A cell that ignores the stop is killed after the grace period.
  scripts["stuck"] = {cell_script::stubborn, {}};
  start({"alpha", "stuck"});
  auto old_cell = cells["stuck"];
  auto fresh = profiles_named({"alpha", "stuck"});
  fresh[1].config.require_mention = false;
  scripts["stuck"] = {cell_script::ok, {}};
  auto summary = reload(std::move(fresh));
  CAF_CHECK_EQUAL(summary.changed, std::vector<std::string>{"stuck"});
  CAF_CHECK_EQUAL(spawns["stuck"], 1);
  CAF_CHECK(cell_answers(old_cell));
  elapse(policy.shutdown_grace + 1s);
  CAF_CHECK(!cell_answers(old_cell));
  CAF_CHECK_EQUAL(spawns["stuck"], 2);
  CAF_CHECK(answers("stuck"));
  CAF_CHECK_EQUAL(status_of("stuck").state, profile_state::running);
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
}

CAF_TEST(a reload gives failed and stopped profiles a fresh start) {
  scripts["flaky"] = {cell_script::crash_after, caf::timespan{0}};
  scripts["revoked"] = {cell_script::fatal, {}};
  start({"alpha", "flaky", "revoked"});
  elapse(10min);
  CAF_REQUIRE_EQUAL(status_of("flaky").state, profile_state::failed);
  CAF_REQUIRE_EQUAL(status_of("revoked").state, profile_state::stopped);
  scripts["flaky"] = {cell_script::ok, {}};
  scripts["revoked"] = {cell_script::ok, {}};
  auto summary = reload(profiles_named({"alpha", "flaky", "revoked"}));
  CAF_CHECK_EQUAL(summary.retried, (std::vector<std::string>{"flaky", "revoked"}));
  CAF_CHECK_EQUAL(summary.unchanged, std::vector<std::string>{"alpha"});
  auto st = statuses();
  CAF_CHECK_EQUAL(st["flaky"].state, profile_state::running);
  CAF_CHECK_EQUAL(st["revoked"].state, profile_state::running);
  CAF_CHECK(st["flaky"].last_error.empty());
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
}

CAF_TEST(a reload starts a profile that became valid and stops one that became invalid) {
  auto broken = profile("broken", dir);
  broken.issues.push_back({profiles::problem::severity::error, dir / "broken/.env", 3,
                           "MATRIX_HOMESERVER", "not a URL", "write https://host"});
  start({"alpha"}, {broken});
  CAF_REQUIRE_EQUAL(status_of("broken").state, profile_state::invalid);
  auto fresh = profiles_named({"alpha", "broken"});
  fresh[0].issues.push_back({profiles::problem::severity::error, dir / "alpha/.env", 1,
                             "MATRIX_HOMESERVER", "not a URL", "write https://host"});
  fresh[0].config.homeserver = "matrix.example.org";
  auto alpha = cells["alpha"];
  auto summary = reload(std::move(fresh));
  CAF_CHECK_EQUAL(summary.changed, (std::vector<std::string>{"alpha", "broken"}));
  auto st = statuses();
  CAF_CHECK_EQUAL(st["broken"].state, profile_state::running);
  CAF_CHECK_EQUAL(spawns["broken"], 1);
  CAF_CHECK_EQUAL(st["alpha"].state, profile_state::invalid);
  CAF_CHECK_NOT_EQUAL(st["alpha"].last_error.find("MATRIX_HOMESERVER"), std::string::npos);
  CAF_CHECK(!cell_answers(alpha));
  CAF_CHECK_EQUAL(spawns["alpha"], 1);
}

CAF_TEST(a profile changed while in backoff starts at once and only once) {
  scripts["victim"] = {cell_script::crash_after, 20s};
  start({"victim"});
  elapse(20s);
  CAF_REQUIRE_EQUAL(status_of("victim").state, profile_state::backoff);
  scripts["victim"] = {cell_script::ok, {}};
  auto fresh = profiles_named({"victim"});
  fresh[0].config.device_id = "NEWDEVICE";
  auto summary = reload(std::move(fresh));
  CAF_CHECK_EQUAL(summary.changed, std::vector<std::string>{"victim"});
  CAF_CHECK_EQUAL(spawns["victim"], 2);
  CAF_CHECK_EQUAL(status_of("victim").state, profile_state::running);
  elapse(10s); // the old backoff timer fires and must not start a second cell
  CAF_CHECK_EQUAL(spawns["victim"], 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
