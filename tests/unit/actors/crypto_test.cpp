#define CAF_SUITE crypto_actor

// The crypto actor of one profile on CAF's deterministic scheduler: a real store, a
// scripted homeserver in place of the http engine (it answers /keys/query and
// /keys/upload as the test says and keeps every call), a human's device made with
// libolm that sends room keys over Olm, and a test cell in place of the profile actor
// that passes batches and decrypt requests on and keeps what the crypto actor tells it.
// What is checked is the actor's part of the cell's ordering rules: the device is
// published before the cell may sync, a batch's room keys are taken before its room
// events are decrypted, and a late key brings its parked event back.

#include "actors/cell/crypto.hpp"
#include "matrix/crypto/account.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/sync.hpp"
#include "messages/errors.hpp"
#include "metrics/node_metrics.hpp"
#include "store/profile_store.hpp"

#include "caf/test/dsl.hpp"

#include <caf/all.hpp>

#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cell_fixture.hpp" // after the CAF test headers: it uses CAF_FAIL

using namespace std::chrono_literals;
using namespace hm;
using namespace hm::test;
using json = nlohmann::json;
namespace crypto = hm::matrix::crypto;

namespace {

constexpr auto bot_id = "@bot:hs.test";
constexpr auto bot_device = "BOTDEV";
constexpr auto room_id = "!room:hs.test";

/// What the scripted homeserver was asked and what it answers next.
struct homeserver_script {
  struct call {
    std::string method;
    std::string url;
    json body;
  };
  std::vector<call> calls;
  /// The answer to /keys/query about the bot's own device (what the server holds).
  json own_devices = json::object();
  /// HTTP statuses for the next key uploads (0 or none left: taken).
  std::deque<int> upload_answers;
  /// What the last upload that was taken carried.
  json uploaded;

  std::vector<call> to(const std::string& part) const {
    std::vector<call> out;
    for (auto& c : calls)
      if (c.url.find(part) != std::string::npos)
        out.push_back(c);
    return out;
  }
};

http_engine_actor::behavior_type scripted_engine(std::shared_ptr<homeserver_script> hs) {
  return scripted_http([hs](http_call& call) {
    auto body = call.body.empty() ? json() : json::parse(call.body);
    hs->calls.push_back({call.method, call.url, body});
    if (call.url.find("/keys/query") != std::string::npos)
      return http_ok({{"device_keys", {{bot_id, hs->own_devices}}}});
    if (call.url.find("/keys/upload") != std::string::npos) {
      int status = 0;
      if (!hs->upload_answers.empty()) {
        status = hs->upload_answers.front();
        hs->upload_answers.pop_front();
      }
      if (status != 0)
        return http_error(status, "M_UNKNOWN");
      hs->uploaded = body;
      auto count = body.value("one_time_keys", json::object()).size();
      return http_ok({{"one_time_key_counts", {{"signed_curve25519", count}}}});
    }
    return http_ok(json::object()); // to-device sends and the rest: taken
  });
}

using decrypt_atom = caf::atom_constant<caf::atom("decrypt")>;

/// What the crypto actor told the cell, and what came back to the cell's requests.
struct cell_side {
  int published = 0;
  std::vector<std::string> retried; ///< atom::retry: parked events whose key arrived
  int batches_taken = 0;
  std::vector<decryption> decryptions;
  bool exited = false;
  caf::error exit_reason;
};

/// The profile actor's part: spawns the crypto actor linked to itself, as the real
/// cell does, and passes the test's batches and decrypt requests on to it.
caf::behavior test_cell(caf::event_based_actor* self, std::shared_ptr<cell_side> side,
                        http_engine_actor engine, std::shared_ptr<profile_store> store,
                        std::shared_ptr<spdlog::logger> log,
                        std::shared_ptr<metrics::profile_metrics> metrics) {
  self->set_exit_handler([self, side](caf::exit_msg& m) {
    side->exited = true;
    side->exit_reason = m.reason;
    self->quit(m.reason);
  });
  homeserver_link link{engine, "http://hs.test", secret{"syt_token"}, ""};
  auto crypto = spawn_crypto(self,
                             cell_context{link, store, bot_id, log, metrics,
                                          caf::actor_cast<profile_cell_actor>(self)},
                             crypto_config{bot_device, secret{}, true, secret{}, {}});
  return {
    [side](atom::published) { ++side->published; },
    [side](atom::retry, const std::string& event_id) { side->retried.push_back(event_id); },
    [self, side, crypto](sync_batch& batch) {
      self->request(crypto, caf::infinite, std::move(batch))
        .then([side](atom::ok) { ++side->batches_taken; });
    },
    [self, side, crypto](decrypt_atom, decrypt_request& req) {
      self->request(crypto, caf::infinite, std::move(req))
        .then([side](decryption& d) { side->decryptions.push_back(std::move(d)); });
    },
  };
}

struct fixture : test::cell_fixture {
  std::shared_ptr<homeserver_script> hs = std::make_shared<homeserver_script>();
  std::shared_ptr<cell_side> side = std::make_shared<cell_side>();
  caf::actor cell;
  /// The human: one device, and a Megolm session of the room it shares over Olm.
  crypto::account human = make_account();
  crypto::own_device human_device{"@human:hs.test", "HUMANDEV"};
  crypto::outbound_group_session group = make_group();

  fixture() : cell_fixture("hm-crypto-actor-test") {}

  ~fixture() override {
    if (cell && !side->exited) {
      caf::anon_send_exit(cell, caf::exit_reason::user_shutdown);
      settle();
    }
  }

  static crypto::account make_account() {
    auto a = crypto::account::create();
    if (!a.has_value())
      CAF_FAIL("cannot create an Olm account");
    return std::move(a).value();
  }

  static crypto::outbound_group_session make_group() {
    auto g = crypto::outbound_group_session::create(room_id, 1000);
    if (!g.has_value())
      CAF_FAIL("cannot create a Megolm session");
    return std::move(g).value();
  }

  void start() {
    auto engine = sys.spawn(scripted_engine, hs);
    cell = sys.spawn(test_cell, side, engine, store, log, metrics);
    settle();
  }

  /// The bot's device as the human's client learns it from the last upload.
  crypto::device_identity bot_identity() const {
    auto& keys = hs->uploaded.at("device_keys").at("keys");
    return {bot_id, bot_device, keys.at(std::string{"curve25519:"} + bot_device),
            keys.at(std::string{"ed25519:"} + bot_device)};
  }

  /// The to-device event carrying the room key (as the session is now) to the bot, over
  /// a new Olm session from a one-time key the bot uploaded (a fresh one each time).
  json room_key_event() {
    auto& otks = hs->uploaded.at("one_time_keys");
    CAF_REQUIRE(!otks.empty());
    auto first = otks.begin();
    json claimed{{first.key(), first.value()}};
    otks.erase(first.key());
    auto session = crypto::create_outbound_session(human, bot_identity(), claimed);
    CAF_REQUIRE(session.has_value());
    auto rk = group.room_key_content();
    CAF_REQUIRE(rk.has_value());
    auto content = crypto::encrypt_olm(session.value(), human, human_device, bot_identity(),
                                       "m.room_key", rk.value());
    CAF_REQUIRE(content.has_value());
    return {{"type", "m.room.encrypted"}, {"sender", human_device.user_id},
            {"content", content.value()}};
  }

  /// A room event the human encrypted with the group session.
  json message(const std::string& event_id, const std::string& body) {
    auto content = group.encrypt("m.room.message", {{"msgtype", "m.text"}, {"body", body}},
                                 human, human_device.device_id);
    CAF_REQUIRE(content.has_value());
    return {{"type", "m.room.encrypted"}, {"sender", human_device.user_id},
            {"event_id", event_id}, {"room_id", room_id}, {"origin_server_ts", 5000},
            {"content", content.value()}};
  }

  /// Hands the crypto actor a batch with these to-device events (and device lists that
  /// changed), as the cell does.
  void sync(const std::string& next_batch, json to_device, json changed = json::array()) {
    json body{{"next_batch", next_batch},
              {"to_device", {{"events", std::move(to_device)}}},
              {"device_lists", {{"changed", std::move(changed)}}}};
    auto parsed = matrix::parse_sync(body);
    CAF_REQUIRE(parsed);
    auto response = std::make_shared<const matrix::sync_response>(std::move(parsed).value());
    caf::anon_send(cell, sync_batch{response, false});
    settle();
  }

  /// Asks the crypto actor to decrypt `ev`, as the cell does with an admitted event.
  decryption decrypt(const json& ev) {
    auto parsed = matrix::to_room_event(ev);
    CAF_REQUIRE(parsed);
    auto before = side->decryptions.size();
    caf::anon_send(cell, decrypt_atom::value, decrypt_request{room_id, *parsed});
    settle();
    CAF_REQUIRE_EQUAL(side->decryptions.size(), before + 1);
    return side->decryptions.back();
  }

  /// The /keys/query calls that ask about `user_id`.
  size_t queries_about(const std::string& user_id) const {
    size_t n = 0;
    for (auto& c : hs->to("/keys/query"))
      n += c.body.at("device_keys").contains(user_id) ? 1 : 0;
    return n;
  }

  /// The to-device sends of m.room_key_request with `action` that reach the human's
  /// sending device (one send also reaches our own other devices).
  size_t key_request_sends(const std::string& action) const {
    size_t n = 0;
    for (auto& c : hs->to("/sendToDevice/m.room_key_request/")) {
      auto& messages = c.body.at("messages");
      auto to_human = messages.value(human_device.user_id, json::object());
      auto content = to_human.value(human_device.device_id, json::object());
      if (content.value("action", "") != action)
        continue;
      if (action == "request") // a cancellation names the request_id only
        CAF_CHECK_EQUAL(content.at("body").value("session_id", ""), group.id());
      ++n;
    }
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(crypto_actor_tests, fixture)

CAF_TEST(the cell is told the device is published only once the server holds its keys) {
  hs->upload_answers = {500};
  start();
  // Asked what the server holds for this device (nothing), then tried to upload.
  CAF_REQUIRE(!hs->to("/keys/query").empty());
  CAF_CHECK_EQUAL(hs->to("/keys/upload").size(), 1u);
  CAF_CHECK_EQUAL(side->published, 0);
  CAF_CHECK(logged("cannot upload this device's keys"));
  // The retry is taken: now, and only now, the cell may sync.
  pass(6s);
  CAF_CHECK_EQUAL(hs->to("/keys/upload").size(), 2u);
  CAF_CHECK(hs->uploaded.contains("device_keys"));
  CAF_CHECK_EQUAL(side->published, 1);
  // Topping up one-time keys later tells the cell nothing new.
  sync("s1", json::array());
  CAF_CHECK_EQUAL(side->published, 1);
}

CAF_TEST(a device the server already holds our keys for is published without an upload) {
  start(); // creates the account and uploads it
  CAF_REQUIRE_EQUAL(side->published, 1);
  auto uploaded = hs->uploaded;
  caf::anon_send_exit(cell, caf::exit_reason::user_shutdown);
  settle();
  // A restart on the same store: the server's keys are this store's.
  hs->own_devices = {{bot_device, uploaded.at("device_keys")}};
  hs->calls.clear();
  side = std::make_shared<cell_side>();
  start();
  CAF_CHECK(logged("confirmed on the server"));
  CAF_CHECK_EQUAL(side->published, 1);
  for (auto& c : hs->to("/keys/upload"))
    CAF_CHECK(!c.body.contains("device_keys"));
}

CAF_TEST(the room key of a batch is taken before its room events are decrypted) {
  start();
  CAF_REQUIRE_EQUAL(side->published, 1);
  auto key = room_key_event();
  auto ev = message("$m1", "hello bot");
  sync("s1", json::array({key}));
  CAF_CHECK_EQUAL(side->batches_taken, 1);
  auto got = decrypt(ev);
  CAF_REQUIRE(got.what == decryption::status::decrypted);
  CAF_REQUIRE(got.event);
  CAF_CHECK_EQUAL(got.event->type, "m.room.message");
  CAF_CHECK_EQUAL(got.event->content().value("body", ""), "hello bot");
  CAF_CHECK_EQUAL(key_request_sends("request"), 0u);
  CAF_CHECK(side->retried.empty());
}

CAF_TEST(a late key brings its parked event back and the key request is cancelled) {
  start();
  CAF_REQUIRE_EQUAL(side->published, 1);
  auto key = room_key_event(); // from index 0, but delivered after the message
  auto ev = message("$m1", "sent before its key arrived");
  auto early = decrypt(ev);
  CAF_CHECK(early.what == decryption::status::missing_key);
  CAF_CHECK_EQUAL(store->parked(group.id()).size(), 1u);
  CAF_CHECK_EQUAL(key_request_sends("request"), 1u);
  // The same event asked about again (a resumed entry): parked once, asked for once.
  CAF_CHECK(decrypt(ev).what == decryption::status::missing_key);
  CAF_CHECK_EQUAL(key_request_sends("request"), 1u);
  sync("s1", json::array({key}));
  CAF_CHECK_EQUAL(side->retried, std::vector<std::string>{"$m1"});
  CAF_CHECK_EQUAL(key_request_sends("request_cancellation"), 1u);
  auto later = decrypt(ev);
  CAF_REQUIRE(later.what == decryption::status::decrypted);
  CAF_CHECK_EQUAL(later.event->content().value("body", ""), "sent before its key arrived");
  CAF_CHECK(store->parked().empty());
}

CAF_TEST(a tracked user whose device list changed is queried once and again after a failure) {
  // The human is tracked (the bot shared a room key with them before) and up to date.
  std::map<std::string, crypto::tracked_user> users;
  users[human_device.user_id].outdated = false;
  crypto::crypto_changes tracked;
  tracked.devices = crypto::tracked_users_json(users);
  CAF_REQUIRE(!store->commit_crypto(tracked));
  start();
  CAF_REQUIRE_EQUAL(side->published, 1);
  CAF_CHECK_EQUAL(queries_about(human_device.user_id), 0u);
  sync("s1", json::array(), json::array({human_device.user_id, "@stranger:hs.test"}));
  CAF_CHECK_EQUAL(queries_about(human_device.user_id), 1u);
  CAF_CHECK_EQUAL(queries_about("@stranger:hs.test"), 0u); // not tracked: not asked
  // The scripted server has no list for the human (as when its server does not answer):
  // the next batch does not ask again at once, the retry after a while does.
  sync("s2", json::array());
  CAF_CHECK_EQUAL(queries_about(human_device.user_id), 1u);
  pass(6s);
  CAF_CHECK_EQUAL(queries_about(human_device.user_id), 2u);
}

CAF_TEST(other keys on the server for this device end the cell with device_mismatch) {
  // Keys the server holds for this device id that are not this store's (unsigned
  // here, so they cannot be anyone's we could trust either).
  hs->own_devices = {{bot_device,
                      {{"user_id", bot_id},
                       {"device_id", bot_device},
                       {"algorithms", json::array({"m.olm.v1.curve25519-aes-sha2"})},
                       {"keys", {{std::string{"curve25519:"} + bot_device, "b3RoZXI"},
                                 {std::string{"ed25519:"} + bot_device, "b3RoZXI"}}}}}};
  start();
  CAF_CHECK(side->exited);
  CAF_CHECK_EQUAL(side->exit_reason.category(), error_category);
  CAF_CHECK_EQUAL(side->exit_reason.code(), static_cast<uint8_t>(errc::device_mismatch));
  CAF_CHECK(hs->to("/keys/upload").empty());
  CAF_CHECK_EQUAL(side->published, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
