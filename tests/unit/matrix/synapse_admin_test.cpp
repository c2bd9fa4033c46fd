#define CAF_SUITE synapse_admin
#include "caf/test/unit_test.hpp"

#include "matrix/synapse_admin.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using hm::matrix::test::response;

CAF_TEST(the user request names the user percent-encoded and carries a secret body) {
  auto get = admin_get_user_request("@hermes-coder:example.org");
  CAF_CHECK(get.method == http_method::get);
  CAF_CHECK_EQUAL(get.target, "/_synapse/admin/v2/users/%40hermes-coder%3Aexample.org");
  CAF_CHECK(get.needs_access_token);
  CAF_CHECK(!get.body);
  auto put = admin_put_user_request("@hermes-coder:example.org", "s3cret", "Hermes Coder");
  CAF_CHECK(put.method == http_method::put);
  CAF_CHECK_EQUAL(put.target, get.target);
  CAF_CHECK(put.body_is_secret);
  CAF_REQUIRE(put.body.has_value());
  CAF_CHECK_EQUAL((*put.body)["password"], "s3cret");
  CAF_CHECK_EQUAL((*put.body)["displayname"], "Hermes Coder");
  CAF_CHECK_EQUAL((*put.body)["admin"], false);
  auto bare = admin_put_user_request("@x:example.org", "p", std::nullopt);
  CAF_CHECK(!bare.body->contains("displayname"));
}

CAF_TEST(a missing user is nullopt and other errors stay errors) {
  auto none = parse_admin_get_user(response(404, R"({"errcode":"M_NOT_FOUND","error":"User not found"})"));
  CAF_REQUIRE(none.has_value());
  CAF_CHECK(!none.value().has_value());
  auto found = parse_admin_get_user(response(
    200, R"({"name":"@a:example.org","displayname":"A","admin":false,"deactivated":true})"));
  CAF_REQUIRE(found.has_value() && found.value().has_value());
  CAF_CHECK_EQUAL(found.value()->name, "@a:example.org");
  CAF_CHECK(found.value()->deactivated);
  auto forbidden = parse_admin_get_user(
    response(403, R"({"errcode":"M_FORBIDDEN","error":"You are not a server admin"})"));
  CAF_REQUIRE(!forbidden.has_value());
  CAF_CHECK_EQUAL(forbidden.error().errcode, "M_FORBIDDEN");
  // A 404 from something that is not Synapse (a proxy's page) is not "no such user".
  auto proxy = parse_admin_get_user(response(404, "<html>Not Found</html>"));
  CAF_CHECK(!proxy.has_value());
}

CAF_TEST(put tells a created account from a modified one) {
  auto created = parse_admin_put_user(response(201, R"({"name":"@a:example.org","admin":false})"));
  CAF_REQUIRE(created.has_value());
  CAF_CHECK(created->created);
  auto modified = parse_admin_put_user(response(200, R"({"name":"@a:example.org"})"));
  CAF_REQUIRE(modified.has_value());
  CAF_CHECK(!modified->created);
  auto broken = parse_admin_put_user(response(201, R"({"displayname":"no name"})"));
  CAF_CHECK(!broken.has_value());
}

CAF_TEST(the rate limit override is posted for the user and read back) {
  auto lift = admin_set_ratelimit_request("@hermes:example.org", {0, 0});
  CAF_CHECK(lift.method == http_method::post);
  CAF_CHECK_EQUAL(lift.target,
                  "/_synapse/admin/v1/users/%40hermes%3Aexample.org/override_ratelimit");
  CAF_CHECK(lift.needs_access_token);
  CAF_REQUIRE(lift.body.has_value());
  CAF_CHECK_EQUAL((*lift.body)["messages_per_second"], 0);
  CAF_CHECK_EQUAL((*lift.body)["burst_count"], 0);
  auto set = parse_admin_ratelimit(response(200, R"({"messages_per_second":0,"burst_count":0})"));
  CAF_REQUIRE(set.has_value());
  CAF_CHECK_EQUAL(set->messages_per_second, 0);
  CAF_CHECK_EQUAL(set->burst_count, 0);
  // Synapse answers a user it does not know with 404, a remote one with 400.
  auto unknown = parse_admin_ratelimit(
    response(404, R"({"errcode":"M_NOT_FOUND","error":"User does not exist"})"));
  CAF_REQUIRE(!unknown.has_value());
  CAF_CHECK_EQUAL(unknown.error().errcode, "M_NOT_FOUND");
  CAF_CHECK(!parse_admin_ratelimit(response(200, R"({"burst_count":0})")).has_value());
}
