#define CAF_SUITE txn_id
#include "caf/test/unit_test.hpp"

#include "matrix/request.hpp"
#include "matrix/txn_id.hpp"

using namespace hm::matrix;

CAF_TEST(stable_and_distinct) {
  auto a = derive_txn_id("$143273582443PhrSn:example.org", 0, "reply");
  // Pinned: the scheme must never change, or a resend after an upgrade duplicates.
  CAF_CHECK_EQUAL(a, derive_txn_id("$143273582443PhrSn:example.org", 0, "reply"));
  CAF_CHECK_EQUAL(a.substr(0, 3), "hm.");
  CAF_CHECK_EQUAL(a.size(), 3u + 32u + 8u);
  CAF_CHECK(a.substr(a.size() - 8) == ".0.reply");
  CAF_CHECK_NOT_EQUAL(a, derive_txn_id("$143273582443PhrSn:example.org", 1, "reply"));
  CAF_CHECK_NOT_EQUAL(a, derive_txn_id("$143273582443PhrSn:example.org", 0, "edit"));
  CAF_CHECK_NOT_EQUAL(a, derive_txn_id("$143273582443PhrSn:example.orh", 0, "reply"));
}

CAF_TEST(pinned_value) {
  CAF_CHECK_EQUAL(derive_txn_id("", 0, "x"), "hm.cbf29ce48422232584222325cbf29ce4.0.x");
}

CAF_TEST(url_safe) {
  auto t = derive_txn_id("$a/b?c", 7, "we ird/kind?");
  CAF_CHECK_EQUAL(percent_encode(t), t);
  CAF_CHECK(t.find(".7.we_ird_kind_") != std::string::npos);
  CAF_CHECK(derive_txn_id("$x", 0, "").substr(35) == ".0.send");
  auto long_kind = derive_txn_id("$x", 0, std::string(100, 'k'));
  CAF_CHECK_EQUAL(long_kind.size(), 3u + 32u + 3u + 32u);
}

CAF_TEST(the reply and the done reaction of an answer have txn ids of their own) {
  // The cell recognises a finished answer by its done reaction's txn: the session must
  // derive the very same one, and it must not be the reply's.
  CAF_CHECK_EQUAL(reply_txn_id("$ev"), derive_txn_id("$ev", 0, "reply"));
  CAF_CHECK_EQUAL(done_txn_id("$ev"), derive_txn_id("$ev", 0, "react-done"));
  CAF_CHECK_NOT_EQUAL(done_txn_id("$ev"), reply_txn_id("$ev"));
  CAF_CHECK_NOT_EQUAL(done_txn_id("$ev"), done_txn_id("$other"));
}
