#define CAF_SUITE crypto_account

// The crypto actor's account, loaded from the profile store or created on first start
// (actors/cell/crypto_account.hpp).

#include "actors/cell/crypto_account.hpp"
#include "actors/cell/crypto_state.hpp"
#include "messages/errors.hpp"
#include "store/profile_store.hpp"

#include "caf/test/unit_test.hpp"

#include "store_fixture.hpp" // after unit_test.hpp: it uses CAF_FAIL

using namespace hm;
namespace crypto = hm::matrix::crypto;

namespace {

struct fixture : test::store_fixture {
  fixture() : store_fixture("hm-crypto-account-test") {}
};

using test::open_ok;

crypto::pickle_key key_of(const std::string& text) {
  auto key = crypto::pickle_key::from_bytes(text);
  if (!key)
    CAF_FAIL("bad test key");
  return std::move(key).value();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(crypto_account_tests, fixture)

// -- the account ------------------------------------------------------------

CAF_TEST(the account is created once and loaded with the same identity) {
  auto key = key_of("a-pickle-key-of-enough-length");
  std::string curve;
  {
    auto store = open_ok(path);
    auto acc = load_or_create_account(*store, key, "@bot:hs", "DEV");
    CAF_REQUIRE(std::holds_alternative<crypto::account>(acc));
    curve = std::get<crypto::account>(acc).identity().curve25519;
    auto row = store->crypto_account();
    CAF_REQUIRE(row);
    CAF_CHECK_EQUAL(row->curve25519, curve);
    // The pickle is encrypted: the identity key is not in it as text.
    CAF_CHECK_EQUAL(row->pickle.find(curve), std::string::npos);
  }
  auto store = open_ok(path);
  auto again = load_or_create_account(*store, key, "@bot:hs", "DEV");
  CAF_REQUIRE(std::holds_alternative<crypto::account>(again));
  CAF_CHECK_EQUAL(std::get<crypto::account>(again).identity().curve25519, curve);
}

CAF_TEST(another pickle key stops the profile with bad_pickle_key) {
  auto store = open_ok(path);
  auto acc = load_or_create_account(*store, key_of("the-first-pickle-key!"), "@bot:hs", "DEV");
  CAF_REQUIRE(std::holds_alternative<crypto::account>(acc));
  auto wrong = load_or_create_account(*store, key_of("another-pickle-key!!"), "@bot:hs", "DEV");
  CAF_REQUIRE(std::holds_alternative<caf::error>(wrong));
  auto& err = std::get<caf::error>(wrong);
  CAF_CHECK_EQUAL(err.code(), static_cast<uint8_t>(errc::bad_pickle_key));
  CAF_CHECK(!restartable(errc::bad_pickle_key));
  CAF_CHECK_NOT_EQUAL(error_text(err).find("another pickle key"), std::string::npos);
  CAF_CHECK_EQUAL(error_text(err).find("another-pickle-key"), std::string::npos);
}

CAF_TEST(a store of another device stops the profile with device_mismatch) {
  auto store = open_ok(path);
  auto key = key_of("a-pickle-key-of-enough-length");
  auto acc = load_or_create_account(*store, key, "@bot:hs", "DEV");
  CAF_REQUIRE(std::holds_alternative<crypto::account>(acc));
  auto other = load_or_create_account(*store, key, "@bot:hs", "OTHER");
  CAF_REQUIRE(std::holds_alternative<caf::error>(other));
  CAF_CHECK_EQUAL(std::get<caf::error>(other).code(), static_cast<uint8_t>(errc::device_mismatch));
}

CAF_TEST_FIXTURE_SCOPE_END()
