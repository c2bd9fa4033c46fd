#define CAF_SUITE room_send

// The send side of the E2EE machine, sans I/O: the bot (its state in a store in memory)
// encrypts for a room with a human whose device is a real libolm account; the test is
// the homeserver, answering each request the machine asks for, and the human's device,
// which must be able to read what the bot sent.

#include "matrix/crypto/room_send.hpp"
#include "memory_crypto_store.hpp"
#include "olm_test_peers.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm::matrix::crypto;
namespace matrix = hm::matrix;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

namespace {

matrix::http_response ok_response(const std::string& body) {
  matrix::http_response r;
  r.status = 200;
  r.body = body;
  return r;
}

matrix::matrix_error refusal(int status, std::string errcode) {
  matrix::matrix_error e;
  e.http_status = status;
  e.errcode = std::move(errcode);
  e.error = "scripted";
  return e;
}

/// The Megolm session an m.room.encrypted content was encrypted with ("" for none).
std::string session_of(const json& content) {
  return megolm_session_id(content).value_or("");
}

bool targets(const matrix::http_request& r, const std::string& part) {
  return r.target.find(part) != std::string::npos;
}

struct fixture {
  memory_crypto_store store;
  pickle_key key = test::test_pickle_key();
  peer bot{"@bot:hs", "BOTDEV"};
  peer human{"@human:hs", "HUMANDEV"};
  device_tracker tracker;
  room_send_context ctx{store, key, bot.acc, tracker, bot.self};
  std::string room = "!room:hs";
  std::vector<std::string> members{"@bot:hs", "@human:hs"};
  rotation_policy policy;
  std::int64_t now = 1'000'000;

  // What the homeserver saw and holds.
  std::vector<matrix::http_request> requests;
  std::vector<json> to_device; // the bodies of the shares
  bool human_has_one_time_key = true;
  std::optional<matrix::matrix_error> refuse_next; // answers the next request with it
  std::vector<send_note> notes;

  // The human's side: Olm sessions with the bot and the room keys received.
  std::vector<olm_session> human_sessions;
  std::map<std::string, inbound_group_session> human_room_keys;

  std::string answer_body(const matrix::http_request& r) {
    if (targets(r, "/keys/query")) {
      json dk = json::object();
      for (auto* p : {&bot, &human})
        dk[p->self.user_id][p->self.device_id] =
          p->acc.device_keys(p->self.user_id, p->self.device_id).value();
      return json{{"device_keys", dk}, {"failures", json::object()}}.dump();
    }
    if (targets(r, "/keys/claim")) {
      json otk = json::object();
      if (human_has_one_time_key)
        otk[human.self.user_id][human.self.device_id] = human.claim_one_time_key();
      return json{{"one_time_keys", otk}, {"failures", json::object()}}.dump();
    }
    if (targets(r, "/sendToDevice/")) {
      to_device.push_back(*r.body);
      return "{}";
    }
    CAF_FAIL("the machine asked for " << r.target);
    return "";
  }

  /// Runs one send to its end, answering as the homeserver; the last step.
  room_send::step send(const std::string& body) {
    room_send machine(room, "m.room.message", json{{"msgtype", "m.text"}, {"body", body}},
                      members, policy);
    auto step = machine.start(ctx, now);
    while (auto* p = std::get_if<room_send::perform>(&step)) {
      requests.push_back(p->request);
      if (refuse_next) {
        auto err = *std::exchange(refuse_next, std::nullopt);
        step = machine.answer(ctx, hm::unexpected{err}, now);
        continue;
      }
      auto body_text = answer_body(p->request);
      step = machine.answer(ctx, ok_response(body_text), now);
    }
    for (auto& n : machine.take_notes())
      notes.push_back(n);
    return step;
  }

  json encrypted_content(const room_send::step& step) {
    auto* e = std::get_if<room_send::encrypted>(&step);
    if (!e)
      CAF_FAIL("the send did not end encrypted");
    return e->content;
  }

  /// The human's device takes the room keys the last share carried to it.
  void human_receives_share() {
    CAF_REQUIRE(!to_device.empty());
    auto& messages = to_device.back()["messages"];
    auto content = messages[human.self.user_id][human.self.device_id];
    auto olm = decrypt_olm(human.acc, human_sessions, human.self, bot.self.user_id, content);
    CAF_REQUIRE(olm.has_value());
    CAF_REQUIRE_EQUAL(olm->type, "m.room_key");
    auto inbound = inbound_group_session::from_room_key(olm.value());
    CAF_REQUIRE(inbound.has_value());
    auto id = inbound->info().session_id;
    human_room_keys.erase(id);
    human_room_keys.emplace(id, std::move(inbound).value());
  }

  /// What the human reads from an m.room.encrypted content ("" when it cannot).
  std::string human_reads(const json& content, const std::string& event_id) {
    auto id = megolm_session_id(content);
    if (!id || !human_room_keys.count(*id))
      return "";
    auto plain = decrypt_megolm(human_room_keys.at(*id), room, event_id, now, content,
                                [](std::uint32_t) { return std::nullopt; });
    if (!plain)
      return "";
    return plain->content.value("body", "");
  }

  std::size_t count(const std::string& part) const {
    std::size_t n = 0;
    for (auto& r : requests)
      n += targets(r, part) ? 1 : 0;
    return n;
  }

  bool noted(const std::string& part) const {
    for (auto& n : notes)
      if (n.text.find(part) != std::string::npos)
        return true;
    return false;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(room_send_tests, fixture)

CAF_TEST(the first send queries claims and shares before it encrypts and the human reads it) {
  auto step = send("hello");
  auto content = encrypted_content(step);
  CAF_CHECK_EQUAL(std::get<room_send::encrypted>(step).keys_sent, 1u);
  CAF_CHECK(std::get<room_send::encrypted>(step).new_session);
  CAF_REQUIRE_EQUAL(requests.size(), 3u);
  CAF_CHECK(targets(requests[0], "/keys/query"));
  CAF_CHECK(targets(requests[1], "/keys/claim"));
  CAF_CHECK(targets(requests[2], "/sendToDevice/m.room.encrypted/"));
  CAF_CHECK_EQUAL(content.value("algorithm", ""), "m.megolm.v1.aes-sha2");
  CAF_CHECK(content.dump().find("hello") == std::string::npos);
  human_receives_share();
  CAF_CHECK_EQUAL(human_reads(content, "$1"), "hello");
  // The store holds the session with who has its key, and the device lists.
  auto row = store.outbound_group_session(room);
  CAF_REQUIRE(row.has_value());
  CAF_CHECK_EQUAL(row->message_count, 1);
  CAF_CHECK(shared_set_from_json(row->shared_with).count(shared_device_of(human.as_seen_by_others)));
  CAF_CHECK(store.devices().has_value());
  CAF_CHECK(noted("sharing the key of Megolm session"));
}

CAF_TEST(a later send to the same devices asks the homeserver nothing and keeps the session) {
  auto first = encrypted_content(send("one"));
  human_receives_share();
  requests.clear();
  auto step = send("two");
  auto second = encrypted_content(step);
  CAF_CHECK(requests.empty());
  CAF_CHECK_EQUAL(std::get<room_send::encrypted>(step).keys_sent, 0u);
  CAF_CHECK(!std::get<room_send::encrypted>(step).new_session);
  CAF_CHECK_EQUAL(session_of(first), session_of(second));
  CAF_CHECK_EQUAL(human_reads(second, "$2"), "two");
  auto row = store.outbound_group_session(room);
  CAF_REQUIRE(row.has_value());
  CAF_CHECK_EQUAL(row->message_count, 2);
}

CAF_TEST(a member who left makes a new session that the member never gets) {
  auto first = encrypted_content(send("before"));
  human_receives_share();
  members = {"@bot:hs"};
  requests.clear();
  auto after = encrypted_content(send("after"));
  CAF_CHECK(noted("replacing the Megolm session of !room:hs (a member or device left)"));
  CAF_CHECK_NOT_EQUAL(session_of(first), session_of(after));
  CAF_CHECK(requests.empty()); // nobody else to give the key to
  CAF_CHECK_EQUAL(human_reads(after, "$2"), "");
}

CAF_TEST(a session that sent its rotation count is replaced and shared again) {
  policy.period_msgs = 2;
  auto a = encrypted_content(send("a"));
  auto b = encrypted_content(send("b"));
  CAF_CHECK_EQUAL(session_of(a), session_of(b));
  auto c = encrypted_content(send("c"));
  CAF_CHECK(noted("its rotation period is over"));
  CAF_CHECK_NOT_EQUAL(session_of(a), session_of(c));
  CAF_CHECK_EQUAL(to_device.size(), 2u); // the new session went to the human too
  human_receives_share();
  CAF_CHECK_EQUAL(human_reads(c, "$3"), "c");
}

CAF_TEST(a refused share fails the send and its retry sends the same delivery again) {
  // The query and the claim go through; the share is refused.
  room_send machine(room, "m.room.message", json{{"body", "x"}}, members, policy);
  auto step = machine.start(ctx, now);
  for (int i = 0; i < 2; ++i) {
    auto& p = std::get<room_send::perform>(step);
    step = machine.answer(ctx, ok_response(answer_body(p.request)), now);
  }
  auto first_share = std::get<room_send::perform>(step).request;
  CAF_REQUIRE(targets(first_share, "/sendToDevice/"));
  step = machine.answer(ctx, hm::unexpected{refusal(502, "M_UNKNOWN")}, now);
  auto* failed = std::get_if<room_send::failure>(&step);
  CAF_REQUIRE(failed != nullptr);
  CAF_CHECK(failed->what == room_send::failure::kind::homeserver);
  CAF_CHECK_EQUAL(failed->text, "cannot send room keys");
  CAF_CHECK_EQUAL(failed->error->http_status, 502);
  // Nothing was encrypted, and the human is not yet recorded as having the key.
  auto row = store.outbound_group_session(room);
  CAF_REQUIRE(row.has_value());
  CAF_CHECK_EQUAL(row->message_count, 0);
  CAF_CHECK(shared_set_from_json(row->shared_with).empty());
  // The retry (the outbox sends again) reuses the Olm session: no claim, and the same
  // txn id, so a share the server took before answering is not delivered twice.
  requests.clear();
  auto content = encrypted_content(send("x"));
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  CAF_CHECK_EQUAL(requests[0].target, first_share.target);
  human_receives_share();
  CAF_CHECK_EQUAL(human_reads(content, "$1"), "x");
}

CAF_TEST(a refused device query fails the send and the list is queried again next time) {
  refuse_next = refusal(500, "M_UNKNOWN");
  auto step = send("x");
  auto* failed = std::get_if<room_send::failure>(&step);
  CAF_REQUIRE(failed != nullptr);
  CAF_CHECK_EQUAL(failed->text, "cannot query device keys");
  CAF_CHECK(!store.outbound_group_session(room)); // nothing created, nothing stored
  requests.clear();
  encrypted_content(send("x"));
  CAF_CHECK_EQUAL(count("/keys/query"), 1u);
}

CAF_TEST(a device without a one-time key gets no room key and the send still goes out) {
  human_has_one_time_key = false;
  auto step = send("x");
  encrypted_content(step);
  CAF_CHECK_EQUAL(std::get<room_send::encrypted>(step).keys_sent, 0u);
  CAF_CHECK(to_device.empty());
  CAF_CHECK(noted("@human:hs device HUMANDEV gets no room key"));
}

CAF_TEST(an answer without a request asked for is an internal failure) {
  room_send machine(room, "m.room.message", json{{"body", "x"}}, members, policy);
  auto step = machine.answer(ctx, ok_response("{}"), now);
  auto* failed = std::get_if<room_send::failure>(&step);
  CAF_REQUIRE(failed != nullptr);
  CAF_CHECK(failed->what == room_send::failure::kind::internal);
}

CAF_TEST_FIXTURE_SCOPE_END()
