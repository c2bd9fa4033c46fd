#define CAF_SUITE cluster_etcd_requests

#include "cluster/etcd_requests.hpp"

#include "etcd_answer_fixture.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm;
using namespace std::chrono_literals;
using hm::test::recorded;

namespace {

std::string b64_of(const nlohmann::json& v) {
  return v.get<std::string>();
}

} // namespace

CAF_TEST(requests are what the v3 gateway reads) {
  auto grant = etcd::lease_grant(10s);
  CAF_CHECK_EQUAL(grant.path, "/v3/lease/grant");
  CAF_CHECK_EQUAL(grant.body.dump(), R"({"TTL":"10"})");
  CAF_CHECK_EQUAL(etcd::lease_keepalive(42).body.dump(), R"({"ID":"42"})");
  CAF_CHECK_EQUAL(etcd::lease_revoke(42).path, "/v3/lease/revoke");
  CAF_CHECK_EQUAL(etcd::lease_timetolive(42).path, "/v3/lease/timetolive");
  // Keys and values in padded base64 (Go's encoding/json), int64 as strings.
  auto put = etcd::put("/a", "xy", 7);
  CAF_CHECK_EQUAL(put.path, "/v3/kv/put");
  CAF_CHECK_EQUAL(b64_of(put.body.at("key")), "L2E=");
  CAF_CHECK_EQUAL(b64_of(put.body.at("value")), "eHk=");
  CAF_CHECK_EQUAL(put.body.at("lease"), "7");
  CAF_CHECK(!etcd::put("/a", "xy").body.contains("lease"));
  auto prefix = etcd::range_prefix("/p/");
  CAF_CHECK_EQUAL(b64_of(prefix.body.at("key")), "L3Av");
  CAF_CHECK_EQUAL(b64_of(prefix.body.at("range_end")), "L3Aw"); // "/p0"
  CAF_CHECK(!etcd::range("/p").body.contains("range_end"));
  CAF_CHECK_EQUAL(etcd::delete_key("/a").path, "/v3/kv/deleterange");
  CAF_CHECK(etcd::delete_prefix("/a").body.contains("range_end"));
}

CAF_TEST(a prefix ends after its last byte below 0xff) {
  CAF_CHECK_EQUAL(etcd::prefix_end("/a/"), "/a0");
  CAF_CHECK_EQUAL(etcd::prefix_end(std::string{"a\xff"}), "b");
  CAF_CHECK_EQUAL(etcd::prefix_end(std::string{"\xff\xff"}), std::string(1, '\0'));
  CAF_CHECK_EQUAL(etcd::prefix_end(""), std::string(1, '\0'));
}

CAF_TEST(a transaction carries its compares and both branches) {
  using etcd::compare;
  auto t = etcd::txn({compare{compare::target::create_revision, compare::relation::equal, "/k",
                              0, {}},
                      compare{compare::target::value, compare::relation::not_equal, "/k", 0,
                              "n1"},
                      compare{compare::target::mod_revision, compare::relation::less, "/k",
                              12, {}}},
                     {etcd::op_put("/k", "n1", 5), etcd::op_range("/k")},
                     {etcd::op_delete("/k")});
  CAF_CHECK_EQUAL(t.path, "/v3/kv/txn");
  auto& cmp = t.body.at("compare");
  CAF_REQUIRE_EQUAL(cmp.size(), 3u);
  CAF_CHECK_EQUAL(cmp[0].at("target"), "CREATE");
  CAF_CHECK_EQUAL(cmp[0].at("result"), "EQUAL");
  CAF_CHECK_EQUAL(cmp[0].at("create_revision"), "0");
  CAF_CHECK_EQUAL(cmp[1].at("target"), "VALUE");
  CAF_CHECK_EQUAL(cmp[1].at("result"), "NOT_EQUAL");
  CAF_CHECK_EQUAL(b64_of(cmp[1].at("value")), "bjE=");
  CAF_CHECK_EQUAL(cmp[2].at("target"), "MOD");
  CAF_CHECK_EQUAL(cmp[2].at("result"), "LESS");
  CAF_CHECK_EQUAL(cmp[2].at("mod_revision"), "12");
  CAF_CHECK_EQUAL(t.body.at("success")[0].at("request_put").at("lease"), "5");
  CAF_CHECK(t.body.at("success")[1].contains("request_range"));
  CAF_CHECK(t.body.at("failure")[0].contains("request_delete_range"));
}

CAF_TEST(recorded lease answers parse) {
  auto id = hm::test::recorded_lease_id();
  auto grant_answer = recorded("lease_grant");
  auto grant = etcd::parse_lease_grant(grant_answer.view());
  CAF_REQUIRE(grant.has_value());
  CAF_CHECK_EQUAL(grant->id, id);
  CAF_CHECK_EQUAL(grant->ttl, 10);

  auto kept_answer = recorded("lease_keepalive");
  auto kept = etcd::parse_lease_keepalive(kept_answer.view());
  CAF_REQUIRE(kept.has_value());
  CAF_CHECK_EQUAL(kept->id, id);
  CAF_CHECK_EQUAL(kept->ttl, 10);

  // An unknown or expired lease: 200 with no TTL at all (proto3 leaves zero out).
  auto gone_answer = recorded("lease_keepalive_expired");
  auto gone = etcd::parse_lease_keepalive(gone_answer.view());
  CAF_REQUIRE(gone.has_value());
  CAF_CHECK_EQUAL(gone->ttl, 0);

  auto left_answer = recorded("lease_timetolive");
  auto left = etcd::parse_lease_timetolive(left_answer.view());
  CAF_REQUIRE(left.has_value());
  CAF_CHECK_EQUAL(left->granted_ttl, 10);
  CAF_CHECK(left->ttl > 0 && left->ttl <= 10);
  auto none_answer = recorded("lease_timetolive_expired");
  auto none = etcd::parse_lease_timetolive(none_answer.view());
  CAF_REQUIRE(none.has_value());
  CAF_CHECK_EQUAL(none->ttl, -1);

  auto revoke_answer = recorded("lease_revoke");
  CAF_CHECK(etcd::parse_lease_revoke(revoke_answer.view()).has_value());
  auto again_answer = recorded("lease_revoke_not_found");
  auto again = etcd::parse_lease_revoke(again_answer.view());
  CAF_REQUIRE(!again.has_value());
  CAF_CHECK_EQUAL(again.error().kind, etcd::error_kind::lease_not_found);
  CAF_CHECK_EQUAL(again.error().http_status, 404);
  CAF_CHECK_EQUAL(again.error().grpc_code, 5);
  CAF_CHECK(!etcd::try_next_member(again.error()));
}

CAF_TEST(recorded key answers parse) {
  auto id = hm::test::recorded_lease_id();
  auto all_answer = recorded("range_prefix");
  auto all = etcd::parse_range(all_answer.view());
  CAF_REQUIRE(all.has_value());
  CAF_CHECK_EQUAL(all->revision, 3);
  CAF_REQUIRE_EQUAL(all->kvs.size(), 2u);
  CAF_CHECK_EQUAL(all->kvs[0].key, "/hermes-matrix/c1/nodes/n1");
  CAF_CHECK_EQUAL(all->kvs[0].value, "{}");
  CAF_CHECK_EQUAL(all->kvs[1].key, "/hermes-matrix/c1/owners/alpha");
  CAF_CHECK_EQUAL(all->kvs[1].value, "n1");
  CAF_CHECK_EQUAL(all->kvs[1].create_revision, 2);
  CAF_CHECK_EQUAL(all->kvs[1].mod_revision, 2);
  CAF_CHECK_EQUAL(all->kvs[1].version, 1);
  CAF_CHECK_EQUAL(all->kvs[1].lease, id);

  auto empty_answer = recorded("range_empty"); // no "kvs", no "count"
  auto empty = etcd::parse_range(empty_answer.view());
  CAF_REQUIRE(empty.has_value());
  CAF_CHECK(empty->kvs.empty());

  auto put_answer = recorded("put_node");
  auto put = etcd::parse_put(put_answer.view());
  CAF_REQUIRE(put.has_value());
  CAF_CHECK_EQUAL(put.value(), 3);

  auto no_lease_answer = recorded("put_lease_not_found");
  auto no_lease = etcd::parse_put(no_lease_answer.view());
  CAF_REQUIRE(!no_lease.has_value());
  CAF_CHECK_EQUAL(no_lease.error().kind, etcd::error_kind::lease_not_found);

  auto deleted_answer = recorded("deleterange");
  auto deleted = etcd::parse_delete(deleted_answer.view());
  CAF_REQUIRE(deleted.has_value());
  CAF_CHECK_EQUAL(deleted.value(), 1);
}

CAF_TEST(recorded transaction answers parse) {
  auto won_answer = recorded("txn_claim_succeeded");
  auto won = etcd::parse_txn(won_answer.view());
  CAF_REQUIRE(won.has_value());
  CAF_CHECK(won->succeeded);
  CAF_CHECK_EQUAL(won->revision, 2);
  // The put gives no range; the range after it reads what the put wrote.
  CAF_REQUIRE_EQUAL(won->ranges.size(), 1u);
  CAF_REQUIRE_EQUAL(won->ranges[0].kvs.size(), 1u);
  CAF_CHECK_EQUAL(won->ranges[0].kvs[0].create_revision, 2);

  auto lost_answer = recorded("txn_claim_failed"); // no "succeeded": false
  auto lost = etcd::parse_txn(lost_answer.view());
  CAF_REQUIRE(lost.has_value());
  CAF_CHECK(!lost->succeeded);
  CAF_REQUIRE_EQUAL(lost->ranges.size(), 1u);
  CAF_CHECK_EQUAL(lost->ranges[0].kvs.at(0).value, "n1");
}

CAF_TEST(recorded authentication answers parse) {
  auto token_answer = recorded("auth_authenticate");
  auto token = etcd::parse_authenticate(token_answer.view());
  CAF_REQUIRE(token.has_value());
  CAF_CHECK(!token->empty());
  auto wrong_answer = recorded("auth_failed");
  auto wrong = etcd::parse_authenticate(wrong_answer.view());
  CAF_REQUIRE(!wrong.has_value());
  CAF_CHECK_EQUAL(wrong.error().kind, etcd::error_kind::auth);
  auto off_answer = recorded("auth_not_enabled");
  auto off = etcd::parse_authenticate(off_answer.view());
  CAF_REQUIRE(!off.has_value());
  CAF_CHECK_EQUAL(off.error().kind, etcd::error_kind::refused);
  CAF_CHECK_EQUAL(off.error().grpc_code, 9);
  auto missing_answer = recorded("range_without_token");
  auto missing = etcd::parse_range(missing_answer.view());
  CAF_REQUIRE(!missing.has_value());
  CAF_CHECK_EQUAL(missing.error().kind, etcd::error_kind::auth);
  auto with_answer = recorded("range_with_token");
  CAF_CHECK(etcd::parse_range(with_answer.view()).has_value());
  // The password is in the body, which says so.
  auto req = etcd::authenticate("root", secret{"pw-123"});
  CAF_CHECK(req.body_is_secret);
  CAF_CHECK_EQUAL(req.body.at("password"), "pw-123");
}

CAF_TEST(a member without quorum sends the request to the next one) {
  auto put_answer = recorded("no_quorum_put"); // 503, code 14, "request timed out"
  auto e = etcd::answer_error(put_answer.view());
  CAF_REQUIRE(e.has_value());
  CAF_CHECK_EQUAL(e->kind, etcd::error_kind::unavailable);
  CAF_CHECK(etcd::try_next_member(*e));
  auto grant_answer = recorded("no_quorum_grant"); // 500, code 2, "context deadline exceeded"
  auto g = etcd::parse_lease_grant(grant_answer.view());
  CAF_REQUIRE(!g.has_value());
  CAF_CHECK_EQUAL(g.error().kind, etcd::error_kind::unavailable);
  CAF_CHECK(etcd::try_next_member(g.error()));
  for (auto text : {R"({"error":"etcdserver: no leader","code":14})",
                    R"({"error":"etcdserver: leader changed","message":"etcdserver: leader changed","code":14})"}) {
    auto other = etcd::answer_error({503, text, {}});
    CAF_REQUIRE(other.has_value());
    CAF_CHECK(etcd::try_next_member(*other));
  }
  auto none = etcd::answer_error({0, "", "Connection refused"});
  CAF_REQUIRE(none.has_value());
  CAF_CHECK_EQUAL(none->kind, etcd::error_kind::network);
  CAF_CHECK_EQUAL(none->message, "Connection refused");
  CAF_CHECK(etcd::try_next_member(*none));
  CAF_CHECK(!etcd::answer_error(recorded("range_empty").view()).has_value());
}

CAF_TEST(malformed answers give clear errors and never throw) {
  auto not_json_answer = recorded("error_not_json"); // etcd refusing our bytes: 400, code 3
  auto refused = etcd::answer_error(not_json_answer.view());
  CAF_REQUIRE(refused.has_value());
  CAF_CHECK_EQUAL(refused->kind, etcd::error_kind::refused);
  CAF_CHECK(!etcd::try_next_member(*refused));

  auto proxy = etcd::parse_range({502, "<html>Bad Gateway</html>", {}});
  CAF_REQUIRE(!proxy.has_value());
  CAF_CHECK_EQUAL(proxy.error().kind, etcd::error_kind::unavailable);
  auto garbage = etcd::parse_range({200, "not json", {}});
  CAF_REQUIRE(!garbage.has_value());
  CAF_CHECK_EQUAL(garbage.error().kind, etcd::error_kind::bad_response);
  auto no_header = etcd::parse_put({200, "{}", {}});
  CAF_REQUIRE(!no_header.has_value());
  CAF_CHECK_EQUAL(no_header.error().message, "the answer has no header");
  auto bad_int = etcd::parse_range(
    {200, R"({"header":{"revision":"x1"},"kvs":[]})", {}});
  CAF_REQUIRE(!bad_int.has_value());
  CAF_CHECK_EQUAL(bad_int.error().message, "\"revision\" is not an int64");
  auto bad_b64 = etcd::parse_range(
    {200, R"({"header":{"revision":"1"},"kvs":[{"key":"***"}]})", {}});
  CAF_REQUIRE(!bad_b64.has_value());
  CAF_CHECK_EQUAL(bad_b64.error().message, "\"key\" is not base64");
  auto kvs_object = etcd::parse_range({200, R"({"header":{},"kvs":{}})", {}});
  CAF_CHECK(!kvs_object.has_value());
  auto no_result = etcd::parse_lease_keepalive({200, R"({"header":{}})", {}});
  CAF_CHECK(!no_result.has_value());
  auto no_id = etcd::parse_lease_grant({200, R"({"header":{},"TTL":"5"})", {}});
  CAF_CHECK(!no_id.has_value());
  auto deep = std::string(100, '[') + std::string(100, ']');
  CAF_CHECK(!etcd::parse_range({200, deep, {}}).has_value());
  auto txn_bad = etcd::parse_txn({200, R"({"header":{},"succeeded":"yes"})", {}});
  CAF_CHECK(!txn_bad.has_value());
  auto text = to_string(proxy.error());
  CAF_CHECK(text.find("unavailable (HTTP 502)") == 0);
}

CAF_TEST(endpoint lists are read strictly and fail over in turn) {
  std::string why;
  auto list = etcd::endpoints::parse(" http://127.0.0.1:2379/, https://h2:2379 ,http://h3:1", why);
  CAF_REQUIRE(list.has_value());
  CAF_CHECK_EQUAL(list->size(), 3u);
  CAF_CHECK_EQUAL(list->current(), "http://127.0.0.1:2379");
  list->fail_over();
  CAF_CHECK_EQUAL(list->current(), "https://h2:2379");
  list->fail_over();
  list->fail_over();
  CAF_CHECK_EQUAL(list->current(), "http://127.0.0.1:2379");
  CAF_CHECK(!etcd::endpoints::parse("", why).has_value());
  CAF_CHECK_EQUAL(why, "no etcd endpoint given");
  CAF_CHECK(!etcd::endpoints::parse("127.0.0.1:2379", why).has_value());
  CAF_CHECK_EQUAL(why, "etcd endpoint 1 must start with http:// or https://");
  // Credentials in a URL are refused without repeating them.
  CAF_CHECK(!etcd::endpoints::parse("http://a:1,http://root:hunter2@h:2379", why));
  CAF_CHECK(why.find("hunter2") == std::string::npos);
  CAF_CHECK(why.find("endpoint 2") != std::string::npos);
  CAF_CHECK(!etcd::endpoints::parse("http://h:2379/v3", why));
}
