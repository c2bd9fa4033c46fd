#define CAF_SUITE account
#include "caf/test/unit_test.hpp"

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "matrix/crypto/signatures.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::http_response;
using nlohmann::json;

namespace {

pickle_key key(std::string_view text = "0123456789abcdef0123456789abcdef") {
  return std::move(pickle_key::from_bytes(text).value());
}

http_response resp(int status, std::string_view body) {
  http_response r;
  r.status = status;
  r.body = body;
  return r;
}

account fresh() { return std::move(account::create().value()); }

// The spec appendix "Cryptographic Test Vectors" signing key: libolm derives the ed25519
// key from the first 32 random bytes, so an account built from that seed signs like it.
account spec_signing_account() {
  auto seed = base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
  std::string random(seed->begin(), seed->end());
  random.append(32, '\0');
  return std::move(account::from_random_for_tests(random).value());
}

} // namespace

CAF_TEST(spec_json_signing_vectors) {
  auto a = spec_signing_account();
  auto s1 = a.sign_json(json::object(), "domain", "1");
  CAF_REQUIRE(s1);
  CAF_CHECK_EQUAL(s1.value()["signatures"]["domain"]["ed25519:1"].get<std::string>(),
                  "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ah"
                  "LwYGYZzuHGZKM5ZAQ");
  auto s2 = a.sign_json(json{{"one", 1}, {"two", "Two"}}, "domain", "1");
  CAF_REQUIRE(s2);
  CAF_CHECK_EQUAL(s2.value()["signatures"]["domain"]["ed25519:1"].get<std::string>(),
                  "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kY"
                  "dD13EIMJpvhJI+6Bw");
  CAF_CHECK(verify_signature(a.identity().ed25519, s2.value(), "domain", "1"));
}

CAF_TEST(device_keys_are_self_signed) {
  auto a = fresh();
  auto dk = a.device_keys("@bot:hs", "DEV");
  CAF_REQUIRE(dk);
  const auto& d = dk.value();
  CAF_CHECK_EQUAL(d["user_id"], "@bot:hs");
  CAF_CHECK_EQUAL(d["device_id"], "DEV");
  CAF_CHECK_EQUAL(d["algorithms"],
                  json::array({"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"}));
  CAF_CHECK_EQUAL(d["keys"]["curve25519:DEV"], a.identity().curve25519);
  CAF_CHECK_EQUAL(d["keys"]["ed25519:DEV"], a.identity().ed25519);
  CAF_CHECK(verify_signature(a.identity().ed25519, d, "@bot:hs", "DEV"));
  // unsigned is not covered by the signature.
  auto with_unsigned = d;
  with_unsigned["unsigned"] = {{"device_display_name", "x"}};
  CAF_CHECK(verify_signature(a.identity().ed25519, with_unsigned, "@bot:hs", "DEV"));
}

CAF_TEST(tampering_is_detected) {
  auto a = fresh();
  auto d = a.device_keys("@bot:hs", "DEV").value();
  auto tampered = d;
  tampered["keys"]["curve25519:DEV"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  auto r = verify_signature(a.identity().ed25519, tampered, "@bot:hs", "DEV");
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_SIGNATURE");
  // Another key, another user, another device, a missing or mangled signature.
  auto other = fresh();
  CAF_CHECK(!verify_signature(other.identity().ed25519, d, "@bot:hs", "DEV"));
  CAF_CHECK(!verify_signature(a.identity().ed25519, d, "@eve:hs", "DEV"));
  CAF_CHECK(!verify_signature(a.identity().ed25519, d, "@bot:hs", "DEV2"));
  auto no_sig = d;
  no_sig.erase("signatures");
  CAF_CHECK(!verify_signature(a.identity().ed25519, no_sig, "@bot:hs", "DEV"));
  auto short_sig = d;
  short_sig["signatures"]["@bot:hs"]["ed25519:DEV"] = "AAAA";
  CAF_CHECK(!verify_signature(a.identity().ed25519, short_sig, "@bot:hs", "DEV"));
  CAF_CHECK(!verify_signature("not a key", d, "@bot:hs", "DEV"));
}

CAF_TEST(pickle_round_trip_and_wrong_key) {
  auto a = fresh();
  CAF_REQUIRE(a.generate_one_time_keys(3));
  auto p = a.pickle(key());
  CAF_REQUIRE(p);
  auto b = account::from_pickle(p.value(), key());
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(b->identity().curve25519, a.identity().curve25519);
  CAF_CHECK_EQUAL(b->identity().ed25519, a.identity().ed25519);
  CAF_CHECK_EQUAL(b->unpublished_one_time_keys(), a.unpublished_one_time_keys());
  auto wrong = account::from_pickle(p.value(), key("another key, 16+ bytes long"));
  CAF_REQUIRE(!wrong);
  CAF_CHECK_EQUAL(wrong.error().errcode, "HM_BAD_PICKLE_KEY");
  CAF_CHECK(wrong.error().error.find(p.value().substr(0, 8)) == std::string::npos);
  auto garbage = account::from_pickle("not a pickle!", key());
  CAF_REQUIRE(!garbage);
  CAF_CHECK_EQUAL(garbage.error().errcode, "HM_BAD_PICKLE");
  auto short_key = pickle_key::from_bytes("short");
  CAF_REQUIRE(!short_key);
  CAF_CHECK_EQUAL(short_key.error().errcode, "HM_BAD_PICKLE_KEY");
  CAF_CHECK(short_key.error().error.find("short") == std::string::npos);
}

CAF_TEST(one_time_key_arithmetic) {
  CAF_CHECK_EQUAL(one_time_keys_to_generate(0, 0, 100), 50u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(49, 0, 100), 1u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(50, 0, 100), 0u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(80, 0, 100), 0u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(10, 15, 100), 25u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(-5, 0, 100), 50u);
  CAF_CHECK_EQUAL(one_time_keys_to_generate(0, 0, 101), 50u);
  CAF_CHECK(!fallback_key_needed(std::nullopt)); // server without fallback keys
  CAF_CHECK(fallback_key_needed(std::vector<std::string>{}));
  CAF_CHECK(!fallback_key_needed(std::vector<std::string>{"signed_curve25519"}));
}

CAF_TEST(keys_upload_flow) {
  auto a = fresh();
  keys_upload_state st;
  st.upload_device_keys = true;
  st.server_one_time_keys = 0;
  st.unused_fallback_key_types = std::vector<std::string>{};
  auto r = prepare_keys_upload(a, "@bot:hs", "DEV", st);
  CAF_REQUIRE(r);
  CAF_REQUIRE(r.value().has_value());
  const auto& req = *r.value();
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/keys/upload");
  CAF_CHECK(req.method == hm::matrix::http_method::post);
  const auto& body = *req.body;
  CAF_CHECK(verify_signature(a.identity().ed25519, body["device_keys"], "@bot:hs", "DEV"));
  auto half = a.max_one_time_keys() / 2;
  CAF_CHECK_EQUAL(body["one_time_keys"].size(), half);
  for (const auto& [id, k] : body["one_time_keys"].items()) {
    CAF_CHECK_EQUAL(id.rfind("signed_curve25519:", 0), 0u);
    CAF_CHECK(verify_signature(a.identity().ed25519, k, "@bot:hs", "DEV"));
    CAF_CHECK(!k.contains("fallback"));
  }
  CAF_REQUIRE_EQUAL(body["fallback_keys"].size(), 1u);
  for (const auto& [id, k] : body["fallback_keys"].items()) {
    CAF_CHECK_EQUAL(k["fallback"], true);
    CAF_CHECK(verify_signature(a.identity().ed25519, k, "@bot:hs", "DEV"));
  }
  // Crash before the upload finished: the same keys go up again, none are added.
  auto again = prepare_keys_upload(a, "@bot:hs", "DEV", st);
  CAF_REQUIRE(again && again.value());
  CAF_CHECK_EQUAL((*again.value()->body)["one_time_keys"], body["one_time_keys"]);
  // The upload succeeded.
  auto counts = parse_keys_upload(
      resp(200, R"({"one_time_key_counts":{"signed_curve25519":50,"x":"y"}})"));
  CAF_REQUIRE(counts);
  CAF_CHECK_EQUAL(counts.value().at("signed_curve25519"), 50);
  CAF_CHECK_EQUAL(counts.value().count("x"), 0u);
  CAF_CHECK_EQUAL(a.mark_keys_as_published(), half);
  // Nothing to do now.
  keys_upload_state steady;
  steady.server_one_time_keys = 50;
  steady.unused_fallback_key_types = std::vector<std::string>{"signed_curve25519"};
  auto none = prepare_keys_upload(a, "@bot:hs", "DEV", steady);
  CAF_REQUIRE(none);
  CAF_CHECK(!none.value().has_value());
  // Ten keys claimed: ten new ones.
  steady.server_one_time_keys = 40;
  auto ten = prepare_keys_upload(a, "@bot:hs", "DEV", steady);
  CAF_REQUIRE(ten && ten.value());
  CAF_CHECK_EQUAL((*ten.value()->body)["one_time_keys"].size(), 10u);
  CAF_CHECK(!ten.value()->body->contains("device_keys"));
  CAF_CHECK(!ten.value()->body->contains("fallback_keys"));
  CAF_CHECK(!parse_keys_upload(resp(200, "nope")));
  CAF_CHECK(!parse_keys_upload(resp(400, R"({"errcode":"M_BAD_JSON"})")));
}
