#define CAF_SUITE olm_machine

// The Olm machine's rules with libolm and a store in memory, no server: the bot's machine
// takes sync batches built the way a homeserver sends them, a human's device (libolm)
// shares a Megolm session with it over Olm, and the test plays the homeserver by
// answering the requests the machine hands out.

#include "matrix/crypto/olm_machine.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "memory_crypto_store.hpp"
#include "olm_test_peers.hpp"

#include "caf/test/unit_test.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

using namespace hm::matrix::crypto;
namespace crypto = hm::matrix::crypto;
namespace matrix = hm::matrix;
using json = nlohmann::json;
using kind = outgoing_request::kind;

namespace {

constexpr auto room = "!room:hs";

struct fixture {
  memory_crypto_store store;
  pickle_key key = test::test_pickle_key();
  own_device bot{"@bot:hs", "BOTDEV"};
  test::peer human{"@human:hs", "HUMANDEV"};
  std::optional<olm_machine> machine;
  std::optional<outbound_group_session> group;
  /// The requests handed out and not answered yet.
  std::vector<outgoing_request> pending;

  fixture() {
    auto acc = account::create();
    CAF_REQUIRE(acc.has_value());
    // As the service does on first start: the account is stored before it is used.
    auto pickle = acc->pickle(key);
    CAF_REQUIRE(pickle.has_value());
    crypto_changes created;
    created.account = crypto_account_row{bot.user_id, bot.device_id, acc->identity().curve25519,
                                         acc->identity().ed25519, std::move(pickle).value()};
    CAF_REQUIRE(!store.commit_crypto(created));
    machine.emplace(store, key, std::move(acc).value(), bot);
    auto g = outbound_group_session::create(room, 1000);
    CAF_REQUIRE(g.has_value());
    group.emplace(std::move(g).value());
  }

  device_identity bot_identity() {
    auto& id = machine->olm_account().identity();
    return {bot.user_id, bot.device_id, id.curve25519, id.ed25519};
  }

  /// Takes what the machine asks for now into `pending`; answers how many came.
  size_t take_requests() {
    auto got = machine->outgoing_requests(0);
    CAF_REQUIRE(got.has_value());
    for (auto& r : got.value())
      pending.push_back(r);
    return got->size();
  }

  size_t pending_of(kind what) const {
    return static_cast<size_t>(std::count_if(pending.begin(), pending.end(),
                                             [what](auto& r) { return r.what == what; }));
  }

  outgoing_request take(kind what) {
    auto i = std::find_if(pending.begin(), pending.end(),
                          [what](auto& r) { return r.what == what; });
    if (i == pending.end())
      CAF_FAIL("no request of the kind asked for is pending");
    auto r = *i;
    pending.erase(i);
    return r;
  }

  answer_decisions answer(kind what, const json& body) {
    auto r = take(what);
    auto text = body.dump();
    matrix::http_response resp;
    resp.status = 200;
    resp.body = text;
    auto d = machine->mark_request_as_sent(r.id, resp);
    CAF_REQUIRE(d.has_value());
    return d.value();
  }

  static matrix::matrix_error error(int status, std::string errcode) {
    matrix::matrix_error e;
    e.http_status = status;
    e.errcode = std::move(errcode);
    e.error = "the test refused it";
    return e;
  }

  answer_decisions fail(kind what) {
    auto r = take(what);
    return machine->mark_request_as_failed(r.id, error(502, "M_UNKNOWN"));
  }

  /// The device's keys are checked (the server holds none) and uploaded; the server then
  /// holds `one_time_keys` of its one-time keys.
  void publish(int64_t one_time_keys) {
    take_requests();
    answer(kind::own_device_check, {{"device_keys", json::object()}});
    take_requests();
    CAF_REQUIRE_EQUAL(pending_of(kind::keys_upload), 1u);
    auto d = answer(kind::keys_upload,
                    {{"one_time_key_counts", {{"signed_curve25519", one_time_keys}}}});
    CAF_REQUIRE(d.keys_published);
  }

  sync_decisions sync(json body, bool initial = false) {
    body["next_batch"] = "s";
    auto parsed = matrix::parse_sync(std::move(body));
    CAF_REQUIRE(parsed.has_value());
    auto d = machine->receive_sync_changes(parsed.value(), initial, 5000);
    if (!d)
      CAF_FAIL("the batch was not taken: " << d.error().error);
    return std::move(d).value();
  }

  /// The to-device event carrying the room key from the human to the bot, over a new
  /// Olm session from a one-time key the bot generated.
  json room_key_event() {
    auto& acc = machine->olm_account();
    CAF_REQUIRE(acc.generate_one_time_keys(1).has_value());
    auto otks = acc.signed_one_time_keys(bot.user_id, bot.device_id);
    CAF_REQUIRE(otks.has_value());
    acc.mark_keys_as_published();
    auto session = create_outbound_session(human.acc, bot_identity(), otks.value());
    CAF_REQUIRE(session.has_value());
    auto rk = group->room_key_content();
    CAF_REQUIRE(rk.has_value());
    auto content = encrypt_olm(session.value(), human.acc, human.self, bot_identity(),
                               "m.room_key", rk.value());
    CAF_REQUIRE(content.has_value());
    return {{"type", "m.room.encrypted"},
            {"sender", human.self.user_id},
            {"content", content.value()}};
  }

  /// A room event the human encrypted with the group session.
  matrix::room_event message(const std::string& event_id, const std::string& body) {
    auto content = group->encrypt("m.room.message", {{"msgtype", "m.text"}, {"body", body}},
                                  human.acc, human.self.device_id);
    CAF_REQUIRE(content.has_value());
    auto ev = matrix::to_room_event({{"type", "m.room.encrypted"}, {"sender", human.self.user_id},
                                     {"event_id", event_id}, {"room_id", room},
                                     {"origin_server_ts", 5000}, {"content", content.value()}});
    CAF_REQUIRE(ev);
    return *ev;
  }

  event_decryption decrypt(const matrix::room_event& ev) {
    auto got = machine->decrypt_room_event(room, ev);
    CAF_REQUIRE(got.has_value());
    return std::move(got).value();
  }

  /// A machine that tracks the human (as after a key share), with the list up to date.
  void track_human() {
    std::map<std::string, tracked_user> users;
    users[human.self.user_id].outdated = true;
    crypto_changes changes;
    changes.devices = tracked_users_json(users);
    CAF_REQUIRE(!store.commit_crypto(changes));
    auto acc = std::move(machine->olm_account()); // out before the old machine goes
    machine.emplace(store, key, std::move(acc), bot);
    take_requests();
    CAF_REQUIRE_EQUAL(pending_of(kind::keys_query), 1u);
    auto d = answer(kind::keys_query,
                    {{"device_keys", {{human.self.user_id, json::object()}}}});
    CAF_CHECK(d.keys_query_ended);
    CAF_CHECK(!d.retry_later);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(olm_machine_tests, fixture)

CAF_TEST(the room key of a batch is taken before the room events of that batch) {
  auto key_event = room_key_event();
  auto ev = message("$m1", "hello bot");
  // The key and a verification request in one batch: the key is stored by the time the
  // batch is taken, so the batch's room event decrypts at once.
  auto d = sync({{"to_device",
                  {{"events", json::array({key_event,
                                           {{"type", "m.key.verification.request"},
                                            {"sender", human.self.user_id},
                                            {"content", {{"transaction_id", "t1"}}}}})}}}});
  CAF_REQUIRE_EQUAL(d.new_sessions.size(), 1u);
  CAF_CHECK_EQUAL(d.new_sessions.front(), group->id());
  CAF_CHECK_EQUAL(d.verification_events.size(), 1u);
  CAF_CHECK(d.retry.empty());
  auto got = decrypt(ev);
  CAF_REQUIRE(got.decryption.what == room_decryption::status::decrypted);
  CAF_CHECK_EQUAL(got.decryption.event["content"].value("body", ""), "hello bot");
  CAF_CHECK(store.parked().empty());
}

CAF_TEST(a late key unparks its event and cancels the key request) {
  auto key_event = room_key_event(); // from index 0, but delivered after the message
  auto ev = message("$m1", "sent before its key arrived");
  auto early = decrypt(ev);
  CAF_REQUIRE(early.decryption.what == room_decryption::status::missing_key);
  CAF_CHECK_EQUAL(store.parked(group->id()).size(), 1u);
  machine->request_room_key(room, ev, early.decryption);
  machine->request_room_key(room, ev, early.decryption); // asked once per session
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::key_request), 1u);
  answer(kind::key_request, json::object());
  auto d = sync({{"to_device", {{"events", json::array({key_event})}}}});
  CAF_CHECK_EQUAL(d.retry, std::vector<std::string>{"$m1"});
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::key_cancel), 1u);
  auto later = decrypt(ev);
  CAF_REQUIRE(later.decryption.what == room_decryption::status::decrypted);
  CAF_CHECK_EQUAL(later.decryption.event["content"].value("body", ""),
                  "sent before its key arrived");
  CAF_CHECK(store.parked().empty());
}

CAF_TEST(a one time key count below half asks for an upload and one at half does not) {
  auto half = static_cast<int64_t>(machine->olm_account().max_one_time_keys() / 2);
  publish(half);
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_upload), 0u);
  sync({{"device_one_time_keys_count", {{"signed_curve25519", half}}}});
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_upload), 0u);
  sync({{"device_one_time_keys_count", {{"signed_curve25519", half - 1}}}});
  CAF_CHECK_EQUAL(machine->server_one_time_keys(), half - 1);
  take_requests();
  CAF_REQUIRE_EQUAL(pending_of(kind::keys_upload), 1u);
  // The upload tops up to half, and carries no device keys (they are on the server).
  auto upload = take(kind::keys_upload);
  CAF_CHECK(!upload.request.body->contains("device_keys"));
  CAF_CHECK_EQUAL((*upload.request.body)["one_time_keys"].size(), 1u);
}

CAF_TEST(a device list change asks for one query) {
  track_human();
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_query), 0u);
  // Someone we do not track changing asks for nothing.
  sync({{"device_lists", {{"changed", json::array({"@stranger:hs"})}}}});
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_query), 0u);
  sync({{"device_lists", {{"changed", json::array({human.self.user_id})}}}});
  take_requests();
  CAF_REQUIRE_EQUAL(pending_of(kind::keys_query), 1u);
  CAF_CHECK(machine->keys_query_in_flight());
  // The same change again while the query is out: no second query.
  sync({{"device_lists", {{"changed", json::array({human.self.user_id})}}}});
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_query), 1u);
  auto q = take(kind::keys_query);
  CAF_CHECK((*q.request.body)["device_keys"].contains(human.self.user_id));
}

CAF_TEST(a failed request is offered again after retry_failed) {
  take_requests();
  auto d = fail(kind::own_device_check);
  CAF_CHECK(d.retry_later);
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::own_device_check), 0u);
  machine->retry_failed();
  take_requests();
  CAF_REQUIRE_EQUAL(pending_of(kind::own_device_check), 1u);
  answer(kind::own_device_check, {{"device_keys", json::object()}});
  take_requests();
  auto first = take(kind::keys_upload);
  CAF_CHECK(first.request.body->contains("device_keys"));
  auto id = first.id;
  CAF_CHECK(machine->mark_request_as_failed(id, error(0, "HM_NETWORK")).retry_later);
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_upload), 0u);
  machine->retry_failed();
  take_requests();
  // The same keys again (they were stored before the first try): none lost, none added.
  auto again = take(kind::keys_upload);
  CAF_CHECK_EQUAL((*again.request.body)["device_keys"], (*first.request.body)["device_keys"]);
  CAF_CHECK_EQUAL((*again.request.body)["one_time_keys"], (*first.request.body)["one_time_keys"]);
  CAF_CHECK(store.crypto_account().has_value());
}

CAF_TEST(a failed device list query is offered again after retry_failed) {
  track_human();
  sync({{"device_lists", {{"changed", json::array({human.self.user_id})}}}});
  take_requests();
  auto d = fail(kind::keys_query);
  CAF_CHECK(d.retry_later);
  CAF_CHECK(d.keys_query_ended);
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_query), 0u);
  machine->retry_failed();
  take_requests();
  CAF_CHECK_EQUAL(pending_of(kind::keys_query), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
