#define CAF_SUITE secret_storage
#include "caf/test/unit_test.hpp"

#include <cstring>

#include "matrix/crypto/cross_signing.hpp"
#include "matrix/crypto/own_device_signing.hpp"
#include "matrix/crypto/secret_storage.hpp"
#include "matrix/crypto/signatures.hpp"

#include "olm_test_peers.hpp"
#include "signing_flow.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

// The vectors of secret storage are in signing_flow.hpp; these are the encrypted
// self-signing seed and its public key, made the same way.
namespace {

using hm::matrix::crypto::test::check_mac;
using hm::matrix::crypto::test::iv_b64;
using hm::matrix::crypto::test::recovery_key;
using hm::matrix::crypto::test::seed_b64;
using hm::matrix::crypto::test::test_key;

constexpr const char* secret_ct = "mnKhlXESgknWgKFlojFM/Np7KrLwP/XQaUcYd7gTILAAx8bjOIx85SNIkA==";
constexpr const char* secret_mac = "dln5REStc+QzR8b+zsTC/ItckFQna1w811pEEWrL/oA=";
constexpr const char* ssk_public = "iOR2lURJQLw8airG/1LqCPq+vNh8WdWK1Lkw1genYNE";

bool same(const secret_bytes& a, const secret_bytes& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

json stored_secret() {
  return json{{"encrypted", {{"KEYID", {{"iv", iv_b64}, {"ciphertext", secret_ct}, {"mac", secret_mac}}}}}};
}

} // namespace

CAF_TEST(recovery_key_codec) {
  auto k = decode_recovery_key(recovery_key);
  CAF_REQUIRE(k);
  CAF_CHECK(same(k.value(), test_key()));
  CAF_CHECK_EQUAL(encode_recovery_key(test_key()), recovery_key);
  CAF_CHECK(decode_recovery_key("EsT1H3WmyHnZVYceKwM9c6GknX713FkRYz9xvaryhjQh5m7X"));
  // One character off: the parity (or prefix) no longer holds.
  auto typo = decode_recovery_key("EsT1 H3Wm yHnZ VYce KwM9 c6Gk nX71 3FkR Yz9x vary hjQh 5m7Y");
  CAF_REQUIRE(!typo);
  CAF_CHECK_EQUAL(typo.error().errcode, "HM_BAD_KEY");
  CAF_CHECK(typo.error().error.find("EsT1") == std::string::npos);
  CAF_CHECK(!decode_recovery_key("0OIl")); // not base58
  CAF_CHECK(!decode_recovery_key(""));
}

CAF_TEST(key_check_and_secret_decryption) {
  auto key = test_key();
  json description = {{"algorithm", "m.secret_storage.v1.aes-hmac-sha2"},
                      {"iv", iv_b64},
                      {"mac", check_mac}};
  CAF_CHECK(secret_storage_key_matches(key, description));
  secret_bytes wrong{32};
  CAF_CHECK(!secret_storage_key_matches(wrong, description));
  auto s = decrypt_secret(key, "KEYID", self_signing_secret, stored_secret());
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s.value(), seed_b64);
  auto bad = decrypt_secret(wrong, "KEYID", self_signing_secret, stored_secret());
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(bad.error().errcode, "HM_BAD_SIGNATURE");
  // The name is part of the key derivation: another secret's name does not fit.
  CAF_CHECK(!decrypt_secret(key, "KEYID", "m.cross_signing.master", stored_secret()));
  CAF_CHECK(!decrypt_secret(key, "OTHER", self_signing_secret, stored_secret()));
  // Round trip through our own encryption.
  auto enc = encrypt_secret(key, "x.test", "hello secret");
  CAF_REQUIRE(enc);
  auto round = decrypt_secret(key, "K", "x.test", json{{"encrypted", {{"K", enc.value()}}}});
  CAF_REQUIRE(round);
  CAF_CHECK_EQUAL(round.value(), "hello secret");
}

CAF_TEST(cross_sign_this_device) {
  auto ssk = self_signing_key::from_secret(seed_b64);
  CAF_REQUIRE(ssk);
  CAF_CHECK_EQUAL(ssk->public_key(), ssk_public);
  json csk = {{"user_id", "@bot:hs"},
              {"usage", {"self_signing"}},
              {"keys", {{std::string{"ed25519:"} + ssk_public, ssk_public}}}};
  CAF_CHECK(ssk->matches(csk, "@bot:hs"));
  CAF_CHECK(!ssk->matches(csk, "@eve:hs"));
  auto master = csk;
  master["usage"] = {"master"};
  CAF_CHECK(!ssk->matches(master, "@bot:hs"));
  peer bot{"@bot:hs", "BOTDEV"};
  auto dk = bot.acc.device_keys("@bot:hs", "BOTDEV").value();
  auto signed_dk = ssk->sign_device(dk, "@bot:hs");
  CAF_REQUIRE(signed_dk);
  CAF_CHECK(verify_signature(ssk_public, signed_dk.value(), "@bot:hs", ssk_public));
  CAF_CHECK(verify_signature(bot.acc.identity().ed25519, signed_dk.value(), "@bot:hs", "BOTDEV"));
  auto req = signatures_upload_request("@bot:hs", "BOTDEV", signed_dk.value());
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/keys/signatures/upload");
  CAF_CHECK_EQUAL((*req.body)["@bot:hs"]["BOTDEV"], signed_dk.value());
  CAF_CHECK(!self_signing_key::from_secret("c2hvcnQ"));
}

// -- the whole cross-signing of this device, sans I/O (own_device_signing) -----------

namespace {

/// The homeserver's account data and keys for @bot:hs as the flow reads them.
struct signing_server {
  peer bot{"@bot:hs", "BOTDEV"};
  json default_key = {{"key", "KEYID"}};
  json description = {{"algorithm", "m.secret_storage.v1.aes-hmac-sha2"},
                      {"iv", iv_b64},
                      {"mac", check_mac}};
  json published_ssk = {{"user_id", "@bot:hs"},
                        {"usage", {"self_signing"}},
                        {"keys", {{std::string{"ed25519:"} + ssk_public, ssk_public}}}};
  json device_keys = bot.acc.device_keys("@bot:hs", "BOTDEV").value();
  std::optional<json> master; ///< the published master key, when there is one
  std::vector<std::string> targets;
  std::optional<json> uploaded;

  std::string body_for(const hm::matrix::http_request& r) {
    targets.push_back(r.target);
    auto has = [&r](const char* part) { return r.target.find(part) != std::string::npos; };
    if (has("m.secret_storage.default_key"))
      return default_key.dump();
    if (has("m.secret_storage.key.KEYID"))
      return description.dump();
    if (has("m.cross_signing.self_signing"))
      return stored_secret().dump();
    if (has("/keys/query")) {
      auto body = json{{"device_keys", {{"@bot:hs", {{"BOTDEV", device_keys}}}}},
                       {"self_signing_keys", {{"@bot:hs", published_ssk}}}};
      if (master)
        body["master_keys"]["@bot:hs"] = *master;
      return body.dump();
    }
    if (has("/keys/signatures/upload")) {
      uploaded = *r.body;
      return json{{"failures", json::object()}}.dump();
    }
    CAF_FAIL("unexpected request " << r.target);
    return "";
  }

  /// Runs the flow to its end with `recovery`; the last step.
  own_device_signing::step run(const std::string& recovery) {
    own_device_signing flow{"@bot:hs", "BOTDEV", recovery};
    return hm::matrix::crypto::test::run_signing_flow(
      flow, [this](const hm::matrix::http_request& r) { return body_for(r); });
  }
};

std::string failure_text(const own_device_signing::step& step) {
  return hm::matrix::crypto::test::failure_text<own_device_signing>(step);
}

} // namespace

CAF_TEST(the device is signed with the key from secret storage and the signature verifies) {
  signing_server hs;
  auto step = hs.run(recovery_key);
  auto* done = std::get_if<own_device_signing::signed_device>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK(done->newly);
  CAF_REQUIRE(hs.uploaded.has_value());
  auto& signed_dk = (*hs.uploaded)["@bot:hs"]["BOTDEV"];
  CAF_CHECK(verify_signature(ssk_public, signed_dk, "@bot:hs", ssk_public));
  CAF_CHECK(!signed_dk.contains("unsigned"));
}

CAF_TEST(the master key that signed the self signing key is given for the MACs) {
  // 32 bytes 1..32: a master key of @bot:hs that signs the published self-signing key.
  auto master = cross_signing_key::from_secret("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA",
                                               "master");
  CAF_REQUIRE(master);
  auto master_json = json{{"user_id", "@bot:hs"},
                          {"usage", {"master"}},
                          {"keys", {{"ed25519:" + master->public_key(), master->public_key()}}}};
  {
    signing_server hs;
    auto step = hs.run(recovery_key);
    auto* done = std::get_if<own_device_signing::signed_device>(&step);
    CAF_REQUIRE(done != nullptr);
    CAF_CHECK(!done->master_key.has_value()); // no master key published
  }
  {
    signing_server hs;
    auto ssk = master->sign(hs.published_ssk, "@bot:hs");
    CAF_REQUIRE(ssk);
    hs.published_ssk = ssk.value();
    hs.master = master_json;
    auto step = hs.run(recovery_key);
    auto* done = std::get_if<own_device_signing::signed_device>(&step);
    CAF_REQUIRE(done != nullptr);
    CAF_CHECK_EQUAL(done->master_key.value_or(""), master->public_key());
  }
  {
    // A master key that did not sign it is not ours to vouch for.
    signing_server hs;
    hs.master = master_json;
    auto step = hs.run(recovery_key);
    auto* done = std::get_if<own_device_signing::signed_device>(&step);
    CAF_REQUIRE(done != nullptr);
    CAF_CHECK(!done->master_key.has_value());
  }
}

CAF_TEST(a device the server shows signed already is not signed again) {
  signing_server hs;
  hs.device_keys["signatures"]["@bot:hs"][std::string{"ed25519:"} + ssk_public] = "sig";
  auto step = hs.run(recovery_key);
  auto* done = std::get_if<own_device_signing::signed_device>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK(!done->newly);
  CAF_CHECK(!hs.uploaded.has_value());
}

CAF_TEST(a wrong recovery key a foreign published key or no storage sign nothing) {
  {
    signing_server hs;
    auto text = failure_text(hs.run("not a key"));
    CAF_CHECK(text.find("MATRIX_RECOVERY_KEY is not a recovery key") != std::string::npos);
    CAF_CHECK(hs.targets.empty());
  }
  {
    signing_server hs; // a valid recovery key, but of another storage
    auto text = failure_text(hs.run(encode_recovery_key(secret_bytes{32})));
    CAF_CHECK(text.find("is not the key of this account's secret storage") != std::string::npos);
    CAF_CHECK(text.find("EsT1") == std::string::npos);
    CAF_CHECK(!hs.uploaded.has_value());
  }
  {
    signing_server hs;
    hs.published_ssk["keys"] = {{"ed25519:other", "other"}};
    auto text = failure_text(hs.run(recovery_key));
    CAF_CHECK(text.find("is not the one @bot:hs publishes") != std::string::npos);
    CAF_CHECK(!hs.uploaded.has_value());
  }
  {
    signing_server hs;
    hs.default_key = json::object();
    CAF_CHECK_EQUAL(failure_text(hs.run(recovery_key)),
                    "cannot cross-sign this device: no default secret storage key");
  }
}
