#define CAF_SUITE user_identity_signing
#include "caf/test/unit_test.hpp"

#include "matrix/crypto/cross_signing.hpp"
#include "matrix/crypto/secret_storage.hpp"
#include "matrix/crypto/signatures.hpp"
#include "matrix/crypto/user_identity_signing.hpp"

#include "signing_flow.hpp"

using namespace hm::matrix::crypto;
using nlohmann::json;

// Secret storage as in secret_storage_test.cpp (signing_flow.hpp); the user-signing
// seed (bytes 40..71) and the person's master key seed (bytes 80..111) are signed and
// checked by libolm's PkSigning and ed25519.
namespace {

using hm::matrix::crypto::test::check_mac;
using hm::matrix::crypto::test::iv_b64;
using hm::matrix::crypto::test::recovery_key;

constexpr const char* usk_seed = hm::matrix::crypto::test::seed_b64;
constexpr const char* master_seed = "UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm8";

std::string public_of(const char* seed, const char* usage) {
  return cross_signing_key::from_secret(seed, usage).value().public_key();
}

/// The homeserver as the flow reads it: our account data and both users' keys.
struct server {
  std::string usk_public = public_of(usk_seed, "user_signing");
  std::string master_public = public_of(master_seed, "master");
  json stored = json{{"encrypted",
                      {{"KEYID", encrypt_secret(hm::matrix::crypto::test::test_key(), user_signing_secret, usk_seed).value()}}}};
  json published_usk = {{"user_id", "@bot:hs"},
                        {"usage", {"user_signing"}},
                        {"keys", {{"ed25519:" + usk_public, usk_public}}}};
  json their_master = {{"user_id", "@alice:hs"},
                       {"usage", {"master"}},
                       {"keys", {{"ed25519:" + master_public, master_public}}}};
  std::optional<json> uploaded;

  std::string body_for(const hm::matrix::http_request& r) {
    auto has = [&r](const char* part) { return r.target.find(part) != std::string::npos; };
    if (has("m.secret_storage.default_key"))
      return json{{"key", "KEYID"}}.dump();
    if (has("m.secret_storage.key.KEYID"))
      return json{{"algorithm", "m.secret_storage.v1.aes-hmac-sha2"}, {"iv", iv_b64},
                  {"mac", check_mac}}
        .dump();
    if (has("m.cross_signing.user_signing"))
      return stored.dump();
    if (has("/keys/query"))
      return json{{"device_keys", json::object()},
                  {"user_signing_keys", {{"@bot:hs", published_usk}}},
                  {"master_keys", {{"@alice:hs", their_master}}}}
        .dump();
    if (has("/keys/signatures/upload")) {
      uploaded = *r.body;
      return json{{"failures", json::object()}}.dump();
    }
    CAF_FAIL("unexpected request " << r.target);
    return "";
  }

  user_identity_signing::step run(const std::string& recovery, const std::string& verified) {
    user_identity_signing flow{"@bot:hs", recovery, "@alice:hs", verified};
    return hm::matrix::crypto::test::run_signing_flow(
      flow, [this](const hm::matrix::http_request& r) { return body_for(r); });
  }
};

std::string failure_text(const user_identity_signing::step& step) {
  return hm::matrix::crypto::test::failure_text<user_identity_signing>(step);
}

} // namespace

CAF_TEST(their master key is signed with our user signing key and the signature verifies) {
  server hs;
  auto step = hs.run(recovery_key, hs.master_public);
  auto* done = std::get_if<user_identity_signing::signed_identity>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK(done->newly);
  CAF_REQUIRE(hs.uploaded.has_value());
  auto& signed_master = (*hs.uploaded)["@alice:hs"][hs.master_public];
  CAF_CHECK(verify_signature(hs.usk_public, signed_master, "@bot:hs", hs.usk_public));
  CAF_CHECK_EQUAL(signed_master["keys"], hs.their_master["keys"]);
}

CAF_TEST(a master key signed already is not signed again) {
  server hs;
  hs.their_master["signatures"]["@bot:hs"]["ed25519:" + hs.usk_public] = "sig";
  auto step = hs.run(recovery_key, hs.master_public);
  auto* done = std::get_if<user_identity_signing::signed_identity>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK(!done->newly);
  CAF_CHECK(!hs.uploaded.has_value());
}

CAF_TEST(nothing is signed for another master key a foreign user signing key or a wrong recovery key) {
  {
    server hs;
    auto text = failure_text(hs.run(recovery_key, "not-the-verified-key"));
    CAF_CHECK(text.find("not the one the server publishes") != std::string::npos);
    CAF_CHECK(!hs.uploaded.has_value());
  }
  {
    server hs;
    hs.published_usk["keys"] = {{"ed25519:other", "other"}};
    auto text = failure_text(hs.run(recovery_key, hs.master_public));
    CAF_CHECK(text.find("is not the one @bot:hs publishes") != std::string::npos);
    CAF_CHECK(!hs.uploaded.has_value());
  }
  {
    server hs;
    auto text = failure_text(hs.run(encode_recovery_key(secret_bytes{32}), hs.master_public));
    CAF_CHECK(text.find("cannot sign @alice:hs's identity: MATRIX_RECOVERY_KEY is not the key")
              != std::string::npos);
    CAF_CHECK(!hs.uploaded.has_value());
  }
  {
    server hs;
    hs.stored = json::object();
    auto text = failure_text(hs.run(recovery_key, hs.master_public));
    CAF_CHECK(text.find("user-signing key") != std::string::npos);
  }
}
