#define CAF_SUITE sas
#include "caf/test/unit_test.hpp"

#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include <olm/olm.h>
#include <olm/sas.h>

#include "matrix/crypto/sas.hpp"

using namespace hm::matrix::crypto;
using nlohmann::json;

// The person's side is libolm's own OlmSAS driven by this test with the spec's strings,
// not a second sas_verification: a mistake shared by both ends would pass otherwise.
namespace {

// Made by make_sas_vector_with_nio.py (nio as Alice and as the bot; SAS randoms 1..32 and
// 33..64), pasted as printed.
constexpr const char* nio_vector = R"NIO({"alice":{"user_id":"@alice:example.org","device_id":"ALICEDEV","ed25519":"QGjCOpCsjWBtVgtMEatdMVIyHhIYfgGBuOhk95EwmZ0"},"bot":{"user_id":"@bot:example.org","device_id":"BOTDEV","ed25519":"6jpE0sQPh0VRUCBZRN8Yax6zSxhn+fXDIvM2xW3qR0Y"},"transaction_id":"txn-known-answer-1","start":{"from_device":"ALICEDEV","method":"m.sas.v1","transaction_id":"txn-known-answer-1","key_agreement_protocols":["curve25519","curve25519-hkdf-sha256"],"hashes":["sha256"],"message_authentication_codes":["hkdf-hmac-sha256","hmac-sha256"],"short_authentication_string":["emoji","decimal"]},"start_canonical":"{\"from_device\":\"ALICEDEV\",\"hashes\":[\"sha256\"],\"key_agreement_protocols\":[\"curve25519\",\"curve25519-hkdf-sha256\"],\"message_authentication_codes\":[\"hkdf-hmac-sha256\",\"hmac-sha256\"],\"method\":\"m.sas.v1\",\"short_authentication_string\":[\"emoji\",\"decimal\"],\"transaction_id\":\"txn-known-answer-1\"}","accept":{"transaction_id":"txn-known-answer-1","key_agreement_protocol":"curve25519-hkdf-sha256","hash":"sha256","message_authentication_code":"hkdf-hmac-sha256","short_authentication_string":["emoji","decimal"],"commitment":"juR7Pi/mjoA0qTPm7xcIusN3x/KyLdAnfv59+fmOfgs"},"alice_key":"B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw","bot_key":"WGmv9FBUlzLLqu1eXfmzCm2jHLDldCutWtShp2jxpns","emoji_index":[20,61,19,60,32,15,8],"decimals":[3682,6106,1121],"alice_mac":{"mac":{"ed25519:ALICEDEV":"NQn8OLlJbEriRXJpUlhKcFVsaEtjRlZzYUV0alJsWno"},"keys":"6yQAQUejZWrOV3JPVjNKUFZqTktVRlpxVGt0VlJscHg","transaction_id":"txn-known-answer-1"},"bot_mac":{"mac":{"ed25519:BOTDEV":"p946NnMyTXm6WG02V0cwMlYwY3dNbFl3WTNkTmJGbDM"},"keys":"b/PtdPtfdGamR2FtUjJGdFVqSkdkRlZxU2tka1JsWng","transaction_id":"txn-known-answer-1"},"bot_mac_v2":{"ed25519:BOTDEV":"p946/3My08i6syysbxFjXF6Kd68mL/R44CSv6GKLKt8","keys":"b/PtNvtfin2mbkZxfJwQQY7aPyvh888lbnO6y+YHguA"}})NIO";

const json& nio() {
  static const json v = json::parse(nio_vector);
  return v;
}
std::string nio_str(const json::json_pointer& where) { return nio().at(where).get<std::string>(); }

const std::string alice_user = nio_str("/alice/user_id"_json_pointer);
const std::string alice_device = nio_str("/alice/device_id"_json_pointer);
const std::string alice_ed = nio_str("/alice/ed25519"_json_pointer);
const std::string bot_user = nio_str("/bot/user_id"_json_pointer);
const std::string bot_device = nio_str("/bot/device_id"_json_pointer);
const std::string bot_ed = nio_str("/bot/ed25519"_json_pointer);
const std::string txn = nio_str("/transaction_id"_json_pointer);
// Master keys are not in nio's SAS; any two ed25519-sized keys do.
constexpr const char* alice_master = "nqOvzeuGWT/sRx3h7+MHoInYj3Uk2LD/unI9kDYcHwk";
constexpr const char* bot_master = "ZWMbMl/9VNYqlRHGvJIEV3pfwXKU5NJc2T3C0CA+8OM";
constexpr const char* room_request_id = "$request-event:example.org";

std::string bytes_from(int first) {
  std::string r(32, '\0');
  for (int i = 0; i < 32; ++i)
    r[static_cast<std::size_t>(i)] = static_cast<char>(first + i);
  return r;
}

sas_device bot_self(bool with_master = false) {
  sas_device d{bot_user, bot_device, bot_ed, std::nullopt};
  if (with_master)
    d.master_key = bot_master;
  return d;
}
sas_device alice_peer(bool with_master = false) {
  sas_device d{alice_user, alice_device, alice_ed, std::nullopt};
  if (with_master)
    d.master_key = alice_master;
  return d;
}

std::string olm_sha256_b64(const std::string& text) {
  std::vector<std::uint8_t> mem(olm_utility_size());
  OlmUtility* u = olm_utility(mem.data());
  std::string out(olm_sha256_length(u), '\0');
  olm_sha256(u, text.data(), text.size(), out.data(), out.size());
  olm_clear_utility(u);
  return out;
}

// Alice's device: a bare OlmSAS.
class olm_person {
public:
  explicit olm_person(std::string random32)
      : mem_(olm_sas_size()), sas_(olm_sas(mem_.data())) {
    olm_create_sas(sas_, random32.data(), random32.size());
  }
  olm_person(const olm_person&) = delete;
  olm_person& operator=(const olm_person&) = delete;
  ~olm_person() { olm_clear_sas(sas_); }

  std::string pubkey() {
    std::string k(olm_sas_pubkey_length(sas_), '\0');
    olm_sas_get_pubkey(sas_, k.data(), k.size());
    return k;
  }
  void set_their_key(std::string k) {
    their_key = k;
    olm_sas_set_their_key(sas_, k.data(), k.size());
  }
  std::string bytes(const std::string& info, std::size_t n) {
    std::string out(n, '\0');
    olm_sas_generate_bytes(sas_, info.data(), info.size(), out.data(), n);
    return out;
  }
  std::string mac(const std::string& input, const std::string& info, bool v2 = true) {
    std::string out(olm_sas_mac_length(sas_), '\0');
    auto* fn = v2 ? olm_sas_calculate_mac_fixed_base64 : olm_sas_calculate_mac;
    fn(sas_, input.data(), input.size(), info.data(), info.size(), out.data(), out.size());
    return out;
  }
  // The SAS info of curve25519-hkdf-sha256 with Alice as the starter.
  std::string sas_info(const std::string& flow) {
    return std::string{"MATRIX_KEY_VERIFICATION_SAS|"} + alice_user + "|" + alice_device + "|" +
           pubkey() + "|" + bot_user + "|" + bot_device + "|" + their_key + "|" + flow;
  }
  // Alice's MAC event content for her device key (and master key when asked).
  json mac_content(const std::string& flow, bool v2 = true, bool master = false) {
    std::string info = std::string{"MATRIX_KEY_VERIFICATION_MAC"} + alice_user + alice_device +
                       bot_user + bot_device + flow;
    std::string dev_id = std::string{"ed25519:"} + alice_device;
    json macs{{dev_id, mac(alice_ed, info + dev_id, v2)}};
    std::string ids = dev_id;
    if (master) {
      std::string master_id = std::string{"ed25519:"} + alice_master;
      macs[master_id] = mac(alice_master, info + master_id, v2);
      ids = std::min(dev_id, master_id) + "," + std::max(dev_id, master_id);
    }
    return json{{"mac", macs}, {"keys", mac(ids, info + "KEY_IDS", v2)}};
  }

  std::string their_key;

private:
  std::vector<std::uint8_t> mem_;
  OlmSAS* sas_;
};

json start_content(bool v2 = true) {
  json mac_methods = v2 ? json::array({"hkdf-hmac-sha256.v2", "hkdf-hmac-sha256"})
                        : json::array({"hkdf-hmac-sha256"});
  return json{{"from_device", alice_device},
              {"method", "m.sas.v1"},
              {"key_agreement_protocols", {"curve25519-hkdf-sha256"}},
              {"hashes", {"sha256"}},
              {"message_authentication_codes", mac_methods},
              {"short_authentication_string", {"decimal", "emoji"}}};
}

// One event from Alice in the given transport, with the flow's id in place.
verification_event from_alice(verification_transport t, std::string type, json content,
                              const std::string& flow = txn) {
  if (t == verification_transport::to_device)
    content["transaction_id"] = flow;
  else
    content["m.relates_to"] = json{{"rel_type", "m.reference"}, {"event_id", flow}};
  return {std::move(type), alice_user, std::move(content), {}};
}

verification_event room_request() {
  return {"m.room.message", alice_user,
          json{{"msgtype", "m.key.verification.request"},
               {"body", "Alice is asking to verify"},
               {"to", bot_user},
               {"from_device", alice_device},
               {"methods", {"m.sas.v1"}}},
          room_request_id};
}

sas_verification machine(verification_transport t, const std::string& flow,
                         bool self_master = false, bool peer_master = false) {
  return std::move(sas_verification::create_from_random_for_tests(
                       bot_self(self_master), alice_peer(peer_master), t, flow, bytes_from(33))
                       .value());
}

std::string only_type(const std::vector<verification_send>& out) {
  return out.size() == 1 ? out[0].type : "count " + std::to_string(out.size());
}

std::string cancel_code_of(const std::vector<verification_send>& out) {
  if (out.size() != 1 || out[0].type != "m.key.verification.cancel")
    return "no single cancel";
  return out[0].content.value("code", "");
}

// The spec's own formulas, written out apart from sas.cpp's bit loop.
std::array<int, 3> spec_decimals(const std::string& b) {
  auto u = [&](std::size_t i) { return static_cast<int>(static_cast<std::uint8_t>(b[i])); };
  return {((u(0) << 5) | (u(1) >> 3)) + 1000,
          (((u(1) & 0x7) << 10) | (u(2) << 2) | (u(3) >> 6)) + 1000,
          (((u(3) & 0x3f) << 7) | (u(4) >> 1)) + 1000};
}
std::array<std::size_t, 7> spec_emoji(const std::string& b) {
  std::string bits;
  for (char c : b)
    for (int i = 7; i >= 0; --i)
      bits += ((static_cast<std::uint8_t>(c) >> i) & 1) ? '1' : '0';
  std::array<std::size_t, 7> out{};
  for (std::size_t i = 0; i < 7; ++i)
    out[i] = std::stoul(bits.substr(i * 6, 6), nullptr, 2);
  return out;
}

std::array<std::size_t, 7> indices_of(const std::array<sas_emoji, 7>& e) {
  std::array<std::size_t, 7> out{};
  const auto& table = sas_emoji_table();
  for (std::size_t i = 0; i < 7; ++i)
    for (std::size_t j = 0; j < table.size(); ++j)
      if (table[j].name == e[i].name)
        out[i] = j;
  return out;
}

// Runs a flow up to keys_exchanged against `alice`; returns the accept content.
json up_to_keys(sas_verification& m, olm_person& alice, verification_transport t,
                const std::string& flow, bool v2 = true) {
  if (t == verification_transport::in_room) {
    auto ready = m.receive(room_request());
    CAF_REQUIRE_EQUAL(only_type(ready), "m.key.verification.ready");
  }
  auto accept = m.receive(from_alice(t, "m.key.verification.start", start_content(v2), flow));
  CAF_REQUIRE_EQUAL(only_type(accept), "m.key.verification.accept");
  auto key = m.receive(from_alice(t, "m.key.verification.key", json{{"key", alice.pubkey()}}, flow));
  CAF_REQUIRE_EQUAL(only_type(key), "m.key.verification.key");
  alice.set_their_key(key[0].content.at("key").get<std::string>());
  return accept[0].content;
}

} // namespace

CAF_TEST(emoji table is the spec table) {
  const auto& t = sas_emoji_table();
  CAF_CHECK_EQUAL(t.size(), 64u);
  CAF_CHECK_EQUAL(t[0].name, "Dog");
  CAF_CHECK_EQUAL(t[21].symbol, "\u2601\uFE0F");
  CAF_CHECK_EQUAL(t[34].name, "Spanner");
  CAF_CHECK_EQUAL(t[36].name, "Thumbs Up");
  CAF_CHECK_EQUAL(t[53].name, "Aeroplane");
  CAF_CHECK_EQUAL(t[63].name, "Pin");
}

CAF_TEST(known answer from nio over to-device with hkdf-hmac-sha256) {
  auto m = machine(verification_transport::to_device, txn);
  CAF_CHECK_EQUAL(m.public_key(), nio_str("/bot_key"_json_pointer));
  auto accept = m.receive(from_alice(verification_transport::to_device,
                                     "m.key.verification.start", nio().at("start")));
  CAF_REQUIRE_EQUAL(only_type(accept), "m.key.verification.accept");
  const auto& a = accept[0].content;
  CAF_CHECK_EQUAL(a.at("commitment").get<std::string>(), nio_str("/accept/commitment"_json_pointer));
  CAF_CHECK_EQUAL(a.at("key_agreement_protocol").get<std::string>(), "curve25519-hkdf-sha256");
  CAF_CHECK_EQUAL(a.at("message_authentication_code").get<std::string>(), "hkdf-hmac-sha256");
  CAF_CHECK_EQUAL(a.at("hash").get<std::string>(), "sha256");
  CAF_CHECK_EQUAL(a.at("transaction_id").get<std::string>(), txn);
  CAF_CHECK_EQUAL(a.at("short_authentication_string"), json::array({"emoji", "decimal"}));

  auto key = m.receive(from_alice(verification_transport::to_device, "m.key.verification.key",
                                  json{{"key", nio_str("/alice_key"_json_pointer)}}));
  CAF_REQUIRE_EQUAL(only_type(key), "m.key.verification.key");
  CAF_CHECK_EQUAL(key[0].content.at("key").get<std::string>(), nio_str("/bot_key"_json_pointer));
  CAF_CHECK_EQUAL(m.state(), sas_state::keys_exchanged);
  auto emoji = m.emoji();
  CAF_REQUIRE(emoji.has_value());
  CAF_CHECK_EQUAL(indices_of(*emoji), (nio().at("emoji_index").get<std::array<std::size_t, 7>>()));
  auto decimals = m.decimals();
  CAF_REQUIRE(decimals.has_value());
  CAF_CHECK_EQUAL(*decimals, (nio().at("decimals").get<std::array<int, 3>>()));

  // nio's MAC arrives before the operator confirms; it is checked at once.
  json alice_mac = nio().at("alice_mac");
  CAF_CHECK(m.receive(from_alice(verification_transport::to_device, "m.key.verification.mac",
                                 alice_mac))
                .empty());
  CAF_CHECK_EQUAL(m.state(), sas_state::their_mac_ok);
  CAF_CHECK(!m.verified());

  auto mac = m.confirm(); // nio started without a request: no done
  CAF_REQUIRE_EQUAL(only_type(mac), "m.key.verification.mac");
  const auto& c = mac[0].content;
  CAF_CHECK_EQUAL(c.at("mac"), nio().at("/bot_mac/mac"_json_pointer));
  CAF_CHECK_EQUAL(c.at("keys"), nio().at("/bot_mac/keys"_json_pointer));
  CAF_CHECK(m.verified());
  auto v = m.verified_device();
  CAF_REQUIRE(v.has_value());
  CAF_CHECK_EQUAL(v->ed25519, alice_ed);
  CAF_CHECK(!v->master_key.has_value());
}

CAF_TEST(v2 MACs match python-olm and a libolm peer) {
  auto m = machine(verification_transport::to_device, txn);
  olm_person alice{bytes_from(1)};
  CAF_CHECK_EQUAL(alice.pubkey(), nio_str("/alice_key"_json_pointer));
  up_to_keys(m, alice, verification_transport::to_device, txn);
  CAF_CHECK_EQUAL(m.mac_method(), "hkdf-hmac-sha256.v2");
  auto mac = m.confirm();
  CAF_REQUIRE_EQUAL(only_type(mac), "m.key.verification.mac");
  const auto& v2 = nio().at("bot_mac_v2");
  CAF_CHECK_EQUAL(mac[0].content.at("mac"), json({{"ed25519:BOTDEV", v2.at("ed25519:BOTDEV")}}));
  CAF_CHECK_EQUAL(mac[0].content.at("keys"), v2.at("keys"));
  CAF_CHECK_EQUAL(m.state(), sas_state::confirmed);
  CAF_CHECK(m.receive(from_alice(verification_transport::to_device, "m.key.verification.mac",
                                 alice.mac_content(txn)))
                .empty());
  CAF_CHECK(m.verified());
}

CAF_TEST(in room with a libolm peer from request to done) {
  const auto t = verification_transport::in_room;
  const std::string flow = room_request_id;
  auto m = machine(t, flow);
  olm_person alice{bytes_from(1)};

  auto ready = m.receive(room_request());
  CAF_REQUIRE_EQUAL(only_type(ready), "m.key.verification.ready");
  CAF_CHECK_EQUAL(ready[0].content.at("from_device").get<std::string>(), bot_device);
  CAF_CHECK_EQUAL(ready[0].content.at("methods"), json::array({"m.sas.v1"}));
  CAF_CHECK_EQUAL(ready[0].content.at("m.relates_to"),
                  json({{"rel_type", "m.reference"}, {"event_id", flow}}));
  CAF_CHECK(!ready[0].content.contains("transaction_id"));

  auto start = from_alice(t, "m.key.verification.start", start_content(), flow);
  auto accept = m.receive(start);
  CAF_REQUIRE_EQUAL(only_type(accept), "m.key.verification.accept");
  auto key = m.receive(from_alice(t, "m.key.verification.key", json{{"key", alice.pubkey()}}, flow));
  CAF_REQUIRE_EQUAL(only_type(key), "m.key.verification.key");
  std::string bot_key = key[0].content.at("key").get<std::string>();
  // The starter's check: SHA-256 of the key we sent and the start as Alice sent it
  // (nlohmann's dump of ASCII-only content with sorted keys is its canonical form).
  CAF_CHECK_EQUAL(accept[0].content.at("commitment").get<std::string>(),
                  olm_sha256_b64(bot_key + start.content.dump()));
  alice.set_their_key(bot_key);

  auto emoji = m.emoji();
  auto decimals = m.decimals();
  CAF_REQUIRE(emoji && decimals);
  CAF_CHECK_EQUAL(indices_of(*emoji), spec_emoji(alice.bytes(alice.sas_info(flow), 6)));
  CAF_CHECK_EQUAL(*decimals, spec_decimals(alice.bytes(alice.sas_info(flow), 5)));

  auto mac = m.confirm();
  CAF_REQUIRE_EQUAL(only_type(mac), "m.key.verification.mac");
  std::string info = std::string{"MATRIX_KEY_VERIFICATION_MAC"} + bot_user + bot_device +
                     alice_user + alice_device + flow;
  CAF_CHECK_EQUAL(mac[0].content.at("mac").at("ed25519:BOTDEV").get<std::string>(),
                  alice.mac(bot_ed, info + "ed25519:BOTDEV"));
  CAF_CHECK_EQUAL(mac[0].content.at("keys").get<std::string>(),
                  alice.mac("ed25519:BOTDEV", info + "KEY_IDS"));

  auto done = m.receive(from_alice(t, "m.key.verification.mac", alice.mac_content(flow), flow));
  CAF_REQUIRE_EQUAL(only_type(done), "m.key.verification.done");
  CAF_CHECK_EQUAL(done[0].content.at("m.relates_to").at("event_id").get<std::string>(), flow);
  CAF_CHECK(m.verified());
  CAF_CHECK(m.receive(from_alice(t, "m.key.verification.done", json::object(), flow)).empty());
  CAF_CHECK(m.verified());
}

CAF_TEST(to-device request is answered with ready) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  auto ready = m.receive(from_alice(t, "m.key.verification.request",
                                    json{{"from_device", alice_device},
                                         {"methods", {"m.sas.v1", "m.qr_code.show.v1"}},
                                         {"timestamp", 1700000000000}}));
  CAF_REQUIRE_EQUAL(only_type(ready), "m.key.verification.ready");
  CAF_CHECK_EQUAL(ready[0].content.at("transaction_id").get<std::string>(), txn);
  auto accept = m.receive(from_alice(t, "m.key.verification.start", start_content()));
  CAF_REQUIRE_EQUAL(only_type(accept), "m.key.verification.accept");
  CAF_CHECK_EQUAL(m.state(), sas_state::accepted);
}

CAF_TEST(their MAC after our confirmation completes a request flow with done) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  olm_person alice{bytes_from(1)};
  (void) m.receive(from_alice(t, "m.key.verification.request",
                              json{{"from_device", alice_device}, {"methods", {"m.sas.v1"}}}));
  up_to_keys(m, alice, t, txn);
  auto mac = m.confirm();
  CAF_CHECK_EQUAL(only_type(mac), "m.key.verification.mac");
  CAF_CHECK(m.confirm().empty()); // a second confirm sends nothing again
  auto done = m.receive(from_alice(t, "m.key.verification.mac", alice.mac_content(txn)));
  CAF_CHECK_EQUAL(only_type(done), "m.key.verification.done");
  CAF_CHECK(m.verified());
}

CAF_TEST(master key MACed by both sides) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn, true, true);
  olm_person alice{bytes_from(1)};
  up_to_keys(m, alice, t, txn);
  auto mac = m.confirm();
  CAF_REQUIRE_EQUAL(only_type(mac), "m.key.verification.mac");
  std::string info = std::string{"MATRIX_KEY_VERIFICATION_MAC"} + bot_user + bot_device +
                     alice_user + alice_device + txn;
  std::string master_id = std::string{"ed25519:"} + bot_master;
  const auto& macs = mac[0].content.at("mac");
  CAF_CHECK_EQUAL(macs.size(), 2u);
  CAF_CHECK_EQUAL(macs.at(master_id).get<std::string>(), alice.mac(bot_master, info + master_id));
  std::string ids = std::min(master_id, std::string{"ed25519:BOTDEV"}) + "," +
                    std::max(master_id, std::string{"ed25519:BOTDEV"});
  CAF_CHECK_EQUAL(mac[0].content.at("keys").get<std::string>(), alice.mac(ids, info + "KEY_IDS"));
  (void) m.receive(from_alice(t, "m.key.verification.mac", alice.mac_content(txn, true, true)));
  auto v = m.verified_device();
  CAF_REQUIRE(v.has_value());
  CAF_CHECK_EQUAL(v->master_key.value_or(""), alice_master);
}

CAF_TEST(a wrong MAC is a key mismatch) {
  const auto t = verification_transport::to_device;
  for (const char* field : {"device", "keys", "v1-for-v2"}) {
    auto m = machine(t, txn);
    olm_person alice{bytes_from(1)};
    up_to_keys(m, alice, t, txn);
    json content = alice.mac_content(txn, std::string{field} != "v1-for-v2");
    if (std::string{field} == "device")
      content["mac"]["ed25519:ALICEDEV"] = alice.mac("another key", "info");
    else if (std::string{field} == "keys")
      content["keys"] = alice.mac("ed25519:ALICEDEV,ed25519:OTHER", "info");
    CAF_MESSAGE("tampered: " << field);
    CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.mac", content))),
                    "m.key_mismatch");
    CAF_CHECK_EQUAL(m.state(), sas_state::cancelled);
    CAF_CHECK(m.confirm().empty());
    CAF_CHECK(!m.verified_device().has_value());
  }
}

CAF_TEST(a MAC of other keys only verifies nothing) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  olm_person alice{bytes_from(1)};
  up_to_keys(m, alice, t, txn);
  std::string info = std::string{"MATRIX_KEY_VERIFICATION_MAC"} + alice_user + alice_device +
                     bot_user + bot_device + txn;
  json content{{"mac", {{"ed25519:OTHERDEV", alice.mac(alice_ed, info + "ed25519:OTHERDEV")}}},
               {"keys", alice.mac("ed25519:OTHERDEV", info + "KEY_IDS")}};
  CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.mac", content))),
                  "m.key_mismatch");
}

CAF_TEST(their commitment check fails for another key and their cancel is kept) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  olm_person alice{bytes_from(1)};
  auto start = from_alice(t, "m.key.verification.start", start_content());
  auto accept = up_to_keys(m, alice, t, txn);
  // What a starter computes for a key that is not the one committed to: a mismatch,
  // which it answers with m.mismatched_commitment; the machine takes that cancel as final.
  olm_person mallory{bytes_from(100)};
  CAF_CHECK_NOT_EQUAL(accept.at("commitment").get<std::string>(),
                      olm_sha256_b64(mallory.pubkey() + start.content.dump()));
  CAF_CHECK_EQUAL(accept.at("commitment").get<std::string>(),
                  olm_sha256_b64(m.public_key() + start.content.dump()));
  CAF_CHECK(m.receive(from_alice(t, "m.key.verification.cancel",
                                 json{{"code", "m.mismatched_commitment"},
                                      {"reason", "Mismatched commitment"}}))
                .empty());
  CAF_CHECK_EQUAL(m.state(), sas_state::cancelled);
  CAF_CHECK(m.cancelled_by_them());
  CAF_CHECK_EQUAL(m.cancel_code(), "m.mismatched_commitment");
  CAF_CHECK(m.confirm().empty());
  CAF_CHECK(m.cancel().empty()); // nothing more to send once cancelled
}

CAF_TEST(events out of order are unexpected messages) {
  for (auto t : {verification_transport::to_device, verification_transport::in_room}) {
    const std::string flow = t == verification_transport::to_device ? txn : room_request_id;
    CAF_MESSAGE("transport " << (t == verification_transport::to_device ? "to-device" : "room"));
    {
      auto m = machine(t, flow);
      if (t == verification_transport::in_room)
        (void) m.receive(room_request());
      auto out = m.receive(from_alice(t, "m.key.verification.key",
                                      json{{"key", nio_str("/alice_key"_json_pointer)}}, flow));
      CAF_CHECK_EQUAL(cancel_code_of(out), "m.unexpected_message");
      CAF_REQUIRE_EQUAL(out.size(), 1u);
      if (t == verification_transport::to_device)
        CAF_CHECK_EQUAL(out[0].content.at("transaction_id").get<std::string>(), flow);
      else
        CAF_CHECK_EQUAL(out[0].content.at("m.relates_to").at("event_id").get<std::string>(), flow);
    }
    {
      auto m = machine(t, flow);
      olm_person alice{bytes_from(1)};
      up_to_keys(m, alice, t, flow);
      CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.start",
                                                          start_content(), flow))),
                      "m.unexpected_message");
    }
    {
      auto m = machine(t, flow);
      olm_person alice{bytes_from(1)};
      up_to_keys(m, alice, t, flow);
      CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.done",
                                                          json::object(), flow))),
                      "m.unexpected_message");
    }
    {
      auto m = machine(t, flow);
      CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.accept",
                                                          json{{"commitment", "x"}}, flow))),
                      "m.unexpected_message");
    }
  }
  // In a room the flow is the request; a start without one is out of turn.
  auto m = machine(verification_transport::in_room, room_request_id);
  CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(verification_transport::in_room,
                                                      "m.key.verification.start",
                                                      start_content(), room_request_id))),
                  "m.unexpected_message");
  // A second request in the same flow too.
  auto r = machine(verification_transport::in_room, room_request_id);
  (void) r.receive(room_request());
  CAF_CHECK_EQUAL(cancel_code_of(r.receive(room_request())), "m.unexpected_message");
}

CAF_TEST(unknown methods are refused) {
  const auto t = verification_transport::to_device;
  auto with = [](std::string field, json value) {
    json c = start_content();
    c[field] = std::move(value);
    return c;
  };
  for (const auto& c : {with("method", "m.reciprocate.v1"),
                        with("key_agreement_protocols", {"curve25519"}),
                        with("hashes", {"sha512"}),
                        with("message_authentication_codes", {"hmac-sha256"}),
                        with("short_authentication_string", {"pictures"})}) {
    auto m = machine(t, txn);
    CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.start", c))),
                    "m.unknown_method");
  }
  auto m = machine(t, txn);
  CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(
                      t, "m.key.verification.request",
                      json{{"from_device", alice_device}, {"methods", {"m.qr_code.scan.v1"}}}))),
                  "m.unknown_method");
}

CAF_TEST(only emoji or only decimal is honoured) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  olm_person alice{bytes_from(1)};
  json c = start_content();
  c["short_authentication_string"] = {"decimal"};
  auto accept = m.receive(from_alice(t, "m.key.verification.start", c));
  CAF_REQUIRE_EQUAL(only_type(accept), "m.key.verification.accept");
  CAF_CHECK_EQUAL(accept[0].content.at("short_authentication_string"), json::array({"decimal"}));
  (void) m.receive(from_alice(t, "m.key.verification.key", json{{"key", alice.pubkey()}}));
  CAF_CHECK(!m.emoji().has_value());
  CAF_CHECK(m.decimals().has_value());
}

CAF_TEST(malformed events are invalid messages) {
  const auto t = verification_transport::to_device;
  json no_hashes = start_content();
  no_hashes.erase("hashes");
  json float_start = start_content();
  float_start["extra"] = 1.5;
  json mixed_list = start_content();
  mixed_list["hashes"] = {"sha256", 7};
  json other_device = start_content();
  other_device["from_device"] = "MALLORYDEV";
  for (const auto& c : {no_hashes, float_start, mixed_list, other_device}) {
    auto m = machine(t, txn);
    CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.start", c))),
                    "m.invalid_message");
  }
  for (const auto& key : {json("not base64!"), json("AAAA"), json(42)}) {
    auto m = machine(t, txn);
    (void) m.receive(from_alice(t, "m.key.verification.start", start_content()));
    CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.key",
                                                        json{{"key", key}}))),
                    "m.invalid_message");
  }
  for (const auto& mac : {json{{"keys", "x"}}, json{{"mac", json::object()}, {"keys", "x"}},
                          json{{"mac", {{"ed25519:ALICEDEV", 1}}}, {"keys", "x"}},
                          json{{"mac", {{"ed25519:ALICEDEV", "x"}}}}}) {
    auto m = machine(t, txn);
    olm_person alice{bytes_from(1)};
    up_to_keys(m, alice, t, txn);
    CAF_CHECK_EQUAL(cancel_code_of(m.receive(from_alice(t, "m.key.verification.mac", mac))),
                    "m.invalid_message");
  }
}

CAF_TEST(events of other senders or flows are ignored) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  auto other_sender = from_alice(t, "m.key.verification.cancel", json{{"code", "m.user"}});
  other_sender.sender = "@mallory:example.org";
  CAF_CHECK(m.receive(other_sender).empty());
  CAF_CHECK(m.receive(from_alice(t, "m.key.verification.cancel", json{{"code", "m.user"}},
                                 "another-txn"))
                .empty());
  CAF_CHECK(m.receive({"m.key.verification.start", alice_user, json("not an object"), {}}).empty());
  CAF_CHECK_EQUAL(m.state(), sas_state::created);
  // An in-room request addressed to someone else is not for us either.
  auto r = machine(verification_transport::in_room, room_request_id);
  auto req = room_request();
  req.content["to"] = "@someone-else:example.org";
  CAF_CHECK(r.receive(req).empty());
  CAF_CHECK_EQUAL(r.state(), sas_state::created);
}

CAF_TEST(flow ids of both transports) {
  CAF_CHECK_EQUAL(verification_flow_id(room_request(), verification_transport::in_room)
                      .value_or(""),
                  room_request_id);
  auto key = from_alice(verification_transport::in_room, "m.key.verification.key",
                        json{{"key", "k"}}, "$req");
  CAF_CHECK_EQUAL(verification_flow_id(key, verification_transport::in_room).value_or(""), "$req");
  key.content["m.relates_to"]["rel_type"] = "m.thread";
  CAF_CHECK(!verification_flow_id(key, verification_transport::in_room).has_value());
  auto td = from_alice(verification_transport::to_device, "m.key.verification.key",
                       json{{"key", "k"}}, "t1");
  CAF_CHECK_EQUAL(verification_flow_id(td, verification_transport::to_device).value_or(""), "t1");
}

CAF_TEST(operator reject and cancel and the timeout) {
  const auto t = verification_transport::to_device;
  {
    auto m = machine(t, txn);
    olm_person alice{bytes_from(1)};
    up_to_keys(m, alice, t, txn);
    CAF_CHECK_EQUAL(cancel_code_of(m.reject()), "m.mismatched_sas");
    CAF_CHECK(!m.cancelled_by_them());
  }
  {
    auto m = machine(t, txn);
    (void) m.receive(from_alice(t, "m.key.verification.start", start_content()));
    CAF_CHECK_EQUAL(cancel_code_of(m.cancel()), "m.user");
    CAF_CHECK(m.cancel().empty());
  }
  {
    auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours{1};
    auto m = std::move(sas_verification::create(bot_self(), alice_peer(), t, txn, t0).value());
    CAF_CHECK(m.check_timeout(t0 + std::chrono::minutes{9}).empty());
    CAF_CHECK_EQUAL(cancel_code_of(m.check_timeout(t0 + std::chrono::minutes{10})), "m.timeout");
    CAF_CHECK_EQUAL(m.state(), sas_state::cancelled);
  }
}

CAF_TEST(decline in both transports) {
  auto td = decline(verification_transport::to_device, "t9");
  CAF_CHECK_EQUAL(td.type, "m.key.verification.cancel");
  CAF_CHECK_EQUAL(td.content.at("code").get<std::string>(), "m.user");
  CAF_CHECK_EQUAL(td.content.at("transaction_id").get<std::string>(), "t9");
  auto room = decline(verification_transport::in_room, "$r", cancel_unknown_method, "no");
  CAF_CHECK_EQUAL(room.content.at("code").get<std::string>(), "m.unknown_method");
  CAF_CHECK_EQUAL(room.content.at("m.relates_to"),
                  json({{"rel_type", "m.reference"}, {"event_id", "$r"}}));
}

CAF_TEST(requests are timely only within ten minutes past and five ahead) {
  auto now = std::chrono::system_clock::time_point{std::chrono::milliseconds{1'700'000'000'000}};
  std::int64_t ms = 1'700'000'000'000;
  CAF_CHECK(verification_request_timely(ms, now));
  CAF_CHECK(verification_request_timely(ms - 10 * 60 * 1000, now));
  CAF_CHECK(!verification_request_timely(ms - 10 * 60 * 1000 - 1, now));
  CAF_CHECK(verification_request_timely(ms + 5 * 60 * 1000, now));
  CAF_CHECK(!verification_request_timely(ms + 5 * 60 * 1000 + 1, now));
  CAF_CHECK(!verification_request_timely(std::nullopt, now));
  CAF_CHECK(!verification_request_timely(std::numeric_limits<std::int64_t>::max(), now));
  CAF_CHECK(!verification_request_timely(std::numeric_limits<std::int64_t>::min(), now));
}

CAF_TEST(their cancel reason is cut and cleaned for the log) {
  const auto t = verification_transport::to_device;
  auto m = machine(t, txn);
  olm_person alice{bytes_from(1)};
  up_to_keys(m, alice, t, txn);
  CAF_CHECK(m.emoji().has_value());
  std::string reason = "line\nbreak ";
  for (int i = 0; i < 100; ++i)
    reason += "\u00e9"; // two bytes each in UTF-8
  auto cancel = from_alice(t, "m.key.verification.cancel",
                           json{{"code", "m.user"}, {"reason", reason}});
  CAF_CHECK(m.receive(cancel).empty());
  CAF_CHECK_EQUAL(m.cancel_code(), "m.user");
  const auto& r = m.cancel_reason();
  CAF_CHECK_LESS_OR_EQUAL(r.size(), 200u);
  CAF_CHECK_EQUAL(r.substr(0, 11), "line break ");
  CAF_CHECK_EQUAL((r.size() - 11) % 2, 0u); // no half of an \u00e9 left at the end
  CAF_CHECK(!m.emoji().has_value());        // a cancelled flow shows nothing to confirm
  CAF_CHECK(!m.decimals().has_value());
}
