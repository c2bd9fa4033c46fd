#define CAF_SUITE receive

#include "matrix/crypto/receive.hpp"
#include "matrix/crypto/megolm.hpp"
#include "memory_crypto_store.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm::matrix::crypto;
namespace crypto = hm::matrix::crypto;
namespace matrix = hm::matrix;

namespace {

crypto::pickle_key test_key() {
  auto key = crypto::pickle_key::from_bytes("a-pickle-key-for-the-receive-tests");
  if (!key)
    CAF_FAIL("bad test key");
  return std::move(key).value();
}

/// The bot ("A", its account in a store in memory) and a human's device ("B") that
/// shares a Megolm session of one room with it over Olm, as a client such as nio does.
struct fixture {
  memory_crypto_store mem;
  crypto_store* store = &mem;
  crypto::pickle_key key = test_key();
  std::optional<crypto::account> bot;
  crypto::own_device bot_device{"@bot:hs", "BOTDEV"};
  std::optional<crypto::account> human;
  crypto::own_device human_device{"@human:hs", "HUMANDEV"};
  std::optional<crypto::outbound_group_session> group;
  std::string room = "!room:hs";

  fixture() {
    auto b = crypto::account::create();
    CAF_REQUIRE(b.has_value());
    bot.emplace(std::move(b).value());
    auto pickle = bot->pickle(key);
    CAF_REQUIRE(pickle.has_value());
    crypto_changes created;
    created.account = crypto_account_row{bot_device.user_id, bot_device.device_id,
                                         bot->identity().curve25519, bot->identity().ed25519,
                                         std::move(pickle).value()};
    CAF_REQUIRE(!mem.commit_crypto(created));
    auto h = crypto::account::create();
    CAF_REQUIRE(h.has_value());
    human.emplace(std::move(h).value());
    auto g = crypto::outbound_group_session::create(room, 1000);
    CAF_REQUIRE(g.has_value());
    group.emplace(std::move(g).value());
  }

  crypto::device_identity bot_identity() const {
    return {bot_device.user_id, bot_device.device_id, bot->identity().curve25519,
            bot->identity().ed25519};
  }

  /// The to-device event carrying the room key from the human to the bot, over a new
  /// Olm session started from a one-time key the bot published.
  matrix::basic_event room_key_event() {
    CAF_REQUIRE(bot->generate_one_time_keys(1).has_value());
    auto otks = bot->signed_one_time_keys(bot_device.user_id, bot_device.device_id);
    CAF_REQUIRE(otks.has_value());
    bot->mark_keys_as_published();
    auto session = crypto::create_outbound_session(*human, bot_identity(), otks.value());
    CAF_REQUIRE(session.has_value());
    auto rk = group->room_key_content();
    CAF_REQUIRE(rk.has_value());
    auto content = crypto::encrypt_olm(session.value(), *human, human_device, bot_identity(),
                                       "m.room_key", rk.value());
    CAF_REQUIRE(content.has_value());
    auto ev = matrix::to_basic_event(nlohmann::json{{"type", "m.room.encrypted"},
                                                    {"sender", human_device.user_id},
                                                    {"content", content.value()}},
                                     true);
    CAF_REQUIRE(ev);
    return *ev;
  }

  /// The human's room key (`room_key`, an m.room_key content; the session as it is now
  /// if none) as `from` (another device, `from_device`) forwards it to the bot: exported
  /// from an inbound session at its first index, over a new Olm session.
  matrix::basic_event forwarded_key_event(crypto::account& from,
                                          const crypto::own_device& from_device,
                                          std::optional<nlohmann::json> room_key = {}) {
    if (!room_key) {
      auto now = group->room_key_content();
      CAF_REQUIRE(now.has_value());
      room_key = now.value();
    }
    crypto::olm_decrypted as_received{"m.room_key", *room_key, human->identity().curve25519,
                                      human->identity().ed25519, std::nullopt, 0, false};
    auto inbound = crypto::inbound_group_session::from_room_key(as_received);
    CAF_REQUIRE(inbound.has_value());
    auto exported = inbound->export_at(inbound->first_known_index());
    CAF_REQUIRE(exported.has_value());
    nlohmann::json content{{"algorithm", "m.megolm.v1.aes-sha2"},
                           {"room_id", room},
                           {"sender_key", human->identity().curve25519},
                           {"session_id", group->id()},
                           {"session_key", exported.value()},
                           {"sender_claimed_ed25519_key", human->identity().ed25519},
                           {"forwarding_curve25519_key_chain", nlohmann::json::array()}};
    CAF_REQUIRE(bot->generate_one_time_keys(1).has_value());
    auto otks = bot->signed_one_time_keys(bot_device.user_id, bot_device.device_id);
    CAF_REQUIRE(otks.has_value());
    bot->mark_keys_as_published();
    auto session = crypto::create_outbound_session(from, bot_identity(), otks.value());
    CAF_REQUIRE(session.has_value());
    auto olm = crypto::encrypt_olm(session.value(), from, from_device, bot_identity(),
                                   "m.forwarded_room_key", content);
    CAF_REQUIRE(olm.has_value());
    auto ev = matrix::to_basic_event(nlohmann::json{{"type", "m.room.encrypted"},
                                                    {"sender", from_device.user_id},
                                                    {"content", olm.value()}},
                                     true);
    CAF_REQUIRE(ev);
    return *ev;
  }

  /// A room event the human encrypted with the group session.
  matrix::room_event message(const std::string& event_id, const std::string& body,
                             int64_t ts = 5000) {
    auto content = group->encrypt("m.room.message", {{"msgtype", "m.text"}, {"body", body}},
                                  *human, human_device.device_id);
    CAF_REQUIRE(content.has_value());
    return raw_event(event_id, content.value(), ts);
  }

  matrix::room_event raw_event(const std::string& event_id, const nlohmann::json& content,
                               int64_t ts) {
    auto ev = matrix::to_room_event(nlohmann::json{{"type", "m.room.encrypted"},
                                                   {"sender", human_device.user_id},
                                                   {"event_id", event_id},
                                                   {"room_id", room},
                                                   {"origin_server_ts", ts},
                                                   {"content", content}});
    CAF_REQUIRE(ev);
    return *ev;
  }
};

std::optional<std::string> unknown_owner(const std::string&) {
  return std::nullopt;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(receive_tests, fixture)

CAF_TEST(a room key over Olm becomes a stored inbound session) {
  auto res = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto& got = std::get<to_device_result>(res);
  CAF_REQUIRE_EQUAL(got.new_sessions.size(), 1u);
  CAF_CHECK_EQUAL(got.new_sessions[0], group->id());
  CAF_CHECK(got.dropped.empty());
  auto rows = store->inbound_group_sessions(room, group->id());
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].sender_key, human->identity().curve25519);
  CAF_CHECK_EQUAL(store->olm_sessions(human->identity().curve25519).size(), 1u);
  // The account without the used one-time key is what the store holds now.
  auto row = store->crypto_account();
  CAF_REQUIRE(row);
  auto reloaded = crypto::account::from_pickle(row->pickle, key);
  CAF_REQUIRE(reloaded.has_value());
  CAF_CHECK(reloaded->unpublished_one_time_keys().empty());
}

CAF_TEST(the same pre-key message is not accepted twice) {
  auto ev = room_key_event();
  auto first = receive_to_device(*store, key, *bot, bot_device, {ev});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(first));
  // A restart reloads the account from the store: its one-time key is gone.
  auto row = store->crypto_account();
  auto reloaded = crypto::account::from_pickle(row->pickle, key);
  CAF_REQUIRE(reloaded.has_value());
  crypto::account again = std::move(reloaded).value();
  auto second = receive_to_device(*store, key, again, bot_device, {ev});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(second));
  // Either refused or matched to the stored session; never a second inbound session.
  CAF_CHECK_EQUAL(store->inbound_group_sessions(room, group->id()).size(), 1u);
}

CAF_TEST(a megolm message decrypts once the key is there and not before) {
  // The key is exported before the message is sent (from index 0), and delivered after.
  auto key_event = room_key_event();
  auto ev = message("$m1", "hello bot");
  auto early = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_CHECK(early.what == room_decryption::status::missing_key);
  CAF_CHECK_EQUAL(early.session_id, group->id());
  auto res = receive_to_device(*store, key, *bot, bot_device, {key_event});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto dec = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_REQUIRE(dec.what == room_decryption::status::decrypted);
  CAF_CHECK_EQUAL(dec.event["type"], "m.room.message");
  CAF_CHECK_EQUAL(dec.event["content"]["body"], "hello bot");
  CAF_CHECK_EQUAL(dec.event["event_id"], "$m1");
  CAF_REQUIRE(dec.replay);
  CAF_CHECK_EQUAL(dec.replay->message_index, 0);
  crypto_changes c;
  c.replay = {*dec.replay};
  CAF_CHECK(!store->commit_crypto(c));
  // The same event again (a resumed journal entry) decrypts, with nothing new to log.
  auto again = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_CHECK(again.what == room_decryption::status::decrypted);
  CAF_CHECK(!again.replay);
  // Its ciphertext under another event id is a replay.
  auto replayed = raw_event("$m2", ev.content(), 6000);
  auto refused = decrypt_room_event(*store, key, room, replayed, unknown_owner);
  CAF_CHECK(refused.what == room_decryption::status::refused);
}

CAF_TEST(a key for another room or of another users device is refused) {
  auto res = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto ev = message("$m1", "hello");
  // Stored under its own room only: the same session id in another room is unknown.
  auto elsewhere = decrypt_room_event(*store, key, "!other:hs", ev, unknown_owner);
  CAF_CHECK(elsewhere.what != room_decryption::status::decrypted);
  auto mallory = decrypt_room_event(*store, key, room, ev, [](const std::string&) {
    return std::optional<std::string>{"@mallory:hs"};
  });
  CAF_CHECK(mallory.what == room_decryption::status::refused);
  CAF_CHECK_NOT_EQUAL(mallory.reason.find("@mallory:hs"), std::string::npos);
  // The session's key came over Olm from the human: the same ciphertext presented as
  // sent by someone else is refused even while the device list knows nothing.
  auto forged = matrix::to_room_event(nlohmann::json{{"type", "m.room.encrypted"},
                                                     {"sender", "@mallory:hs"},
                                                     {"event_id", "$forged"},
                                                     {"room_id", room},
                                                     {"origin_server_ts", 7000},
                                                     {"content", ev.content()}});
  CAF_REQUIRE(forged);
  auto refused = decrypt_room_event(*store, key, room, *forged, unknown_owner);
  CAF_CHECK(refused.what == room_decryption::status::refused);
}

CAF_TEST(a key shared after a message cannot decrypt it: the event waits for a better key) {
  auto ev = message("$m1", "sent before the key");
  auto res = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto dec = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_CHECK(dec.what == room_decryption::status::missing_key);
}

CAF_TEST(a late key that starts before the message replaces one that starts after it) {
  auto early_key = group->room_key_content(); // index 0, before the message
  CAF_REQUIRE(early_key.has_value());
  auto ev = message("$m1", "sent before the key");
  auto res = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  CAF_CHECK(decrypt_room_event(*store, key, room, ev, unknown_owner).what
            == room_decryption::status::missing_key);
  auto rows = store->inbound_group_sessions(room, group->id());
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].first_known_index, 1);
  // Our other device forwards the session from index 0: the stored row is replaced
  // (same creator key), and the waiting message decrypts.
  auto other = crypto::account::create();
  CAF_REQUIRE(other.has_value());
  crypto::own_device other_device{bot_device.user_id, "OTHERDEV"};
  auto other_curve = other->identity().curve25519;
  auto forwarded = forwarded_key_event(other.value(), other_device, early_key.value());
  res = receive_to_device(*store, key, *bot, bot_device, {forwarded},
                          [&](const std::string& curve) { return curve == other_curve; });
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  rows = store->inbound_group_sessions(room, group->id());
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].first_known_index, 0);
  auto dec = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_REQUIRE(dec.what == room_decryption::status::decrypted);
  CAF_CHECK_EQUAL(dec.event["content"]["body"], "sent before the key");
  // The key from index 1 again (a resend) does not take its place back.
  res = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  rows = store->inbound_group_sessions(room, group->id());
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].first_known_index, 0);
}

CAF_TEST(a forwarded key is taken from our own known device only) {
  auto other = crypto::account::create();
  CAF_REQUIRE(other.has_value());
  crypto::own_device other_device{bot_device.user_id, "OTHERDEV"};
  auto other_curve = other->identity().curve25519;
  auto known = [&](const std::string& curve) { return curve == other_curve; };
  auto nobody = [](const std::string&) { return false; };
  // Forwarded at index 0, so exported before the human's first message.
  auto from_unknown = forwarded_key_event(other.value(), other_device);
  crypto::own_device stranger{"@stranger:hs", "STRANGER"};
  auto from_stranger = forwarded_key_event(other.value(), stranger);
  auto from_known = forwarded_key_event(other.value(), other_device);
  auto ev = message("$m1", "hello");
  // Our own device, but not one we know: dropped.
  auto res = receive_to_device(*store, key, *bot, bot_device, {from_unknown}, nobody);
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  CAF_CHECK(std::get<to_device_result>(res).new_sessions.empty());
  CAF_CHECK_EQUAL(std::get<to_device_result>(res).dropped.size(), 1u);
  // Another user's device forwarding the key, even one we know: dropped.
  res = receive_to_device(*store, key, *bot, bot_device, {from_stranger},
                          [](const std::string&) { return true; });
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  CAF_CHECK(std::get<to_device_result>(res).new_sessions.empty());
  CAF_CHECK(decrypt_room_event(*store, key, room, ev, unknown_owner).what
            == room_decryption::status::missing_key);
  // Our own known device: taken, and the human's message decrypts.
  res = receive_to_device(*store, key, *bot, bot_device, {from_known}, known);
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto& got = std::get<to_device_result>(res);
  CAF_REQUIRE_EQUAL(got.new_sessions.size(), 1u);
  CAF_CHECK_EQUAL(got.new_sessions[0], group->id());
  auto dec = decrypt_room_event(*store, key, room, ev, unknown_owner);
  CAF_REQUIRE(dec.what == room_decryption::status::decrypted);
  CAF_CHECK_EQUAL(dec.event["content"]["body"], "hello");
  auto rows = store->inbound_group_sessions(room, group->id());
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].forwarding_chain, nlohmann::json::array({other_curve}).dump());
  // Whose device created the session is checked against the device list.
  auto other_sender = decrypt_room_event(*store, key, room, ev, [](const std::string&) {
    return std::optional<std::string>{"@mallory:hs"};
  });
  CAF_CHECK(other_sender.what == room_decryption::status::refused);
}

CAF_TEST(an Olm message that no session of ours fits marks the session as broken) {
  // The bot started a session with the human (never stored: as if the bot lost it), the
  // human answered on it with a normal (type 1) message.
  CAF_REQUIRE(human->generate_one_time_keys(1).has_value());
  auto otks = human->signed_one_time_keys(human_device.user_id, human_device.device_id);
  CAF_REQUIRE(otks.has_value());
  crypto::device_identity human_identity{human_device.user_id, human_device.device_id,
                                         human->identity().curve25519, human->identity().ed25519};
  auto lost = crypto::create_outbound_session(*bot, human_identity, otks.value());
  CAF_REQUIRE(lost.has_value());
  auto hello = crypto::encrypt_olm(lost.value(), *bot, bot_device, human_identity, "m.dummy",
                                   nlohmann::json::object());
  CAF_REQUIRE(hello.has_value());
  std::vector<crypto::olm_session> human_sessions;
  auto got = crypto::decrypt_olm(*human, human_sessions, human_device, bot_device.user_id,
                                 hello.value());
  CAF_REQUIRE(got.has_value());
  auto answer = crypto::encrypt_olm(human_sessions.at(got->session_index), *human, human_device,
                                    bot_identity(), "m.dummy", nlohmann::json::object());
  CAF_REQUIRE(answer.has_value());
  CAF_CHECK_EQUAL(answer.value()["ciphertext"][bot->identity().curve25519]["type"], 1);
  auto ev = matrix::to_basic_event(nlohmann::json{{"type", "m.room.encrypted"},
                                                  {"sender", human_device.user_id},
                                                  {"content", answer.value()}},
                                   true);
  CAF_REQUIRE(ev);
  auto res = receive_to_device(*store, key, *bot, bot_device, {*ev});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(res));
  auto& out = std::get<to_device_result>(res);
  CAF_REQUIRE_EQUAL(out.broken_sessions.size(), 1u);
  CAF_CHECK_EQUAL(out.broken_sessions[0].first, human_device.user_id);
  CAF_CHECK_EQUAL(out.broken_sessions[0].second, human->identity().curve25519);
  // A message that decrypts marks nothing.
  auto fine = receive_to_device(*store, key, *bot, bot_device, {room_key_event()});
  CAF_REQUIRE(std::holds_alternative<to_device_result>(fine));
  CAF_CHECK(std::get<to_device_result>(fine).broken_sessions.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
