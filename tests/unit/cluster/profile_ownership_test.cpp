#define CAF_SUITE cluster_profile_ownership

#include "cluster/profile_ownership.hpp"

#include "etcd_answer_fixture.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm;
using hm::test::recorded;

namespace {

cluster_keys keys_of(const char* cluster) {
  std::string why;
  auto keys = cluster_keys::make(cluster, why);
  if (!keys)
    throw std::runtime_error(why);
  return *keys;
}

std::string decoded(const nlohmann::json& b64) {
  auto text = b64.get<std::string>();
  static const std::string alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0;
  unsigned value = 0;
  for (char c : text) {
    auto pos = alphabet.find(c);
    if (pos == std::string::npos)
      break;
    value = (value << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

node_record node(const char* name, std::vector<offered_profile> offers) {
  return node_record{name, std::move(offers), 1};
}

} // namespace

CAF_TEST(keys live under the cluster name) {
  auto keys = keys_of("c1");
  CAF_CHECK_EQUAL(keys.owner_key("alpha"), "/hermes-matrix/c1/owners/alpha");
  CAF_CHECK_EQUAL(keys.node_key("n1"), "/hermes-matrix/c1/nodes/n1");
  std::string why;
  CAF_CHECK(!cluster_keys::make("", why).has_value());
  CAF_CHECK(!cluster_keys::make("a/b", why).has_value());
  CAF_CHECK(!why.empty());
}

CAF_TEST(a claim creates the owner key only when it is absent and reads it back) {
  auto keys = keys_of("c1");
  auto r = claim(keys, "alpha", "n1", 77);
  CAF_CHECK_EQUAL(r.path, "/v3/kv/txn");
  auto& cmp = r.body.at("compare");
  CAF_REQUIRE_EQUAL(cmp.size(), 1u);
  CAF_CHECK_EQUAL(cmp[0].at("target"), "CREATE");
  CAF_CHECK_EQUAL(cmp[0].at("create_revision"), "0");
  CAF_CHECK_EQUAL(decoded(cmp[0].at("key")), "/hermes-matrix/c1/owners/alpha");
  auto& put = r.body.at("success")[0].at("request_put");
  CAF_CHECK_EQUAL(decoded(put.at("value")), "n1");
  CAF_CHECK_EQUAL(put.at("lease"), "77");
  CAF_CHECK(r.body.at("success")[1].contains("request_range"));
  CAF_CHECK(r.body.at("failure")[0].contains("request_range"));
}

CAF_TEST(recorded claims tell owned from taken and from a stale key of ours) {
  auto id = test::recorded_lease_id();
  auto won_answer = recorded("txn_claim_succeeded");
  auto won = parse_claim(won_answer.view(), "alpha", "n1", id);
  CAF_REQUIRE(won.has_value());
  CAF_CHECK(won->result == claim_result::outcome::owned);
  CAF_CHECK_EQUAL(won->owner.epoch, 2);
  CAF_CHECK_EQUAL(won->owner.node, "n1");
  // Claiming again under the same lease (a retry whose first answer was lost): still ours.
  auto again_answer = recorded("txn_claim_failed");
  auto again = parse_claim(again_answer.view(), "alpha", "n1", id);
  CAF_REQUIRE(again.has_value());
  CAF_CHECK(again->result == claim_result::outcome::owned);
  CAF_CHECK_EQUAL(again->owner.epoch, 2);
  auto other = parse_claim(again_answer.view(), "alpha", "n2", 99);
  CAF_REQUIRE(other.has_value());
  CAF_CHECK(other->result == claim_result::outcome::taken);
  CAF_CHECK_EQUAL(other->owner.node, "n1");
  auto stale = parse_claim(again_answer.view(), "alpha", "n1", id + 1);
  CAF_REQUIRE(stale.has_value());
  CAF_CHECK(stale->result == claim_result::outcome::stale_ours);
  auto vanished = parse_claim({200, R"({"header":{"revision":"9"},"responses":[{"response_range":{"header":{"revision":"9"}}}]})", {}},
                              "alpha", "n1", id);
  CAF_REQUIRE(vanished.has_value());
  CAF_CHECK(vanished->result == claim_result::outcome::vanished);
  auto no_read = parse_claim({200, R"({"header":{"revision":"9"},"succeeded":true})", {}},
                             "alpha", "n1", id);
  CAF_CHECK(!no_read.has_value());
  auto error_answer = recorded("no_quorum_put");
  auto error = parse_claim(error_answer.view(), "alpha", "n1", id);
  CAF_REQUIRE(!error.has_value());
  CAF_CHECK(etcd::try_next_member(error.error()));
}

CAF_TEST(release and take back delete only that very ownership) {
  auto keys = keys_of("c1");
  auto r = release(keys, "alpha", 42);
  auto& cmp = r.body.at("compare");
  CAF_REQUIRE_EQUAL(cmp.size(), 1u);
  CAF_CHECK_EQUAL(cmp[0].at("create_revision"), "42");
  CAF_CHECK(r.body.at("success")[0].contains("request_delete_range"));
  CAF_CHECK(r.body.at("failure").empty());
  auto t = take_back(keys, "alpha", "n1", 42);
  CAF_REQUIRE_EQUAL(t.body.at("compare").size(), 2u);
  CAF_CHECK_EQUAL(t.body.at("compare")[1].at("target"), "VALUE");
  CAF_CHECK_EQUAL(decoded(t.body.at("compare")[1].at("value")), "n1");
  auto done = parse_release({200, R"({"header":{"revision":"5"},"succeeded":true,"responses":[{"response_delete_range":{"header":{"revision":"5"},"deleted":"1"}}]})", {}});
  CAF_REQUIRE(done.has_value());
  CAF_CHECK(done.value());
  auto not_ours = parse_release({200, R"({"header":{"revision":"5"}})", {}});
  CAF_REQUIRE(not_ours.has_value());
  CAF_CHECK(!not_ours.value());
}

CAF_TEST(the recorded cluster range gives nodes and owners) {
  auto keys = keys_of("c1");
  auto a = recorded("range_prefix");
  auto view = parse_cluster(keys, a.view());
  CAF_REQUIRE(view.has_value());
  CAF_CHECK_EQUAL(view->revision, 3);
  CAF_REQUIRE_EQUAL(view->nodes.size(), 1u);
  CAF_CHECK_EQUAL(view->nodes.at("n1").lease, test::recorded_lease_id());
  CAF_CHECK(view->nodes.at("n1").offers.empty());
  CAF_REQUIRE_EQUAL(view->owners.size(), 1u);
  CAF_CHECK_EQUAL(view->owners.at("alpha").node, "n1");
  CAF_CHECK_EQUAL(view->owners.at("alpha").epoch, 2);
  CAF_CHECK(view->unreadable.empty());
}

CAF_TEST(node records round trip and broken ones are named not fatal) {
  auto keys = keys_of("c1");
  auto value = node_record_value(node("n2", {{"alpha", "n2", true}, {"beta", "", false}}));
  nlohmann::json body{{"header", {{"revision", "7"}}},
                      {"kvs",
                       {{{"key", "L2hlcm1lcy1tYXRyaXgvYzEvbm9kZXMvbjI="}, // .../nodes/n2
                         {"value", ""}, {"lease", "5"}},
                        {{"key", "L2hlcm1lcy1tYXRyaXgvYzEvbm9kZXMvbjM="}, // .../nodes/n3
                         {"value", "bm90IGpzb24="}}}}};                  // "not json"
  // Put the real record's value in (base64 by hand keeps the test free of our encoder).
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  unsigned buf = 0;
  int bits = 0;
  for (unsigned char c : value) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      b64 += table[(buf >> bits) & 63];
    }
  }
  if (bits > 0)
    b64 += table[(buf << (6 - bits)) & 63];
  while (b64.size() % 4)
    b64 += '=';
  body["kvs"][0]["value"] = b64;
  auto text = body.dump();
  auto view = parse_cluster(keys, {200, text, {}});
  CAF_REQUIRE(view.has_value());
  CAF_REQUIRE_EQUAL(view->nodes.size(), 1u);
  auto& n2 = view->nodes.at("n2");
  CAF_CHECK_EQUAL(n2.lease, 5);
  CAF_REQUIRE_EQUAL(n2.offers.size(), 2u);
  CAF_CHECK_EQUAL(n2.offers[0].profile, "alpha");
  CAF_CHECK_EQUAL(n2.offers[0].pin, "n2");
  CAF_CHECK(n2.offers[0].has_store);
  CAF_REQUIRE_EQUAL(view->unreadable.size(), 1u);
  CAF_CHECK(view->unreadable[0].find("nodes/n3") != std::string::npos);
}

CAF_TEST(placement honours pins and keeps live owners) {
  cluster_view view;
  view.nodes.emplace("n1", node("n1", {{"alpha", "n2", false}, {"beta", "", false}}));
  view.nodes.emplace("n2", node("n2", {{"alpha", "n2", false}, {"beta", "", false}}));
  view.owners.emplace("beta", ownership{"beta", "n2", 10, 1});
  auto placed = place(view);
  CAF_CHECK_EQUAL(placed.at("alpha"), "n2");
  CAF_CHECK_EQUAL(placed.at("beta"), "n2"); // its owner is live: no move for balance
  // The pinned node is gone: alpha waits for it rather than running elsewhere.
  view.nodes.erase("n2");
  view.owners.clear();
  placed = place(view);
  CAF_CHECK(!placed.contains("alpha"));
  CAF_CHECK_EQUAL(placed.at("beta"), "n1");
}

CAF_TEST(placement balances free profiles and prefers nodes with the store) {
  cluster_view view;
  std::vector<offered_profile> all;
  for (auto name : {"a", "b", "c", "d", "e", "f"})
    all.push_back({name, "", false});
  for (auto n : {"n1", "n2", "n3"})
    view.nodes.emplace(n, node(n, all));
  auto placed = place(view);
  std::map<std::string, int> load;
  for (auto& [profile, where] : placed)
    ++load[where];
  CAF_CHECK_EQUAL(placed.size(), 6u);
  CAF_CHECK_EQUAL(load["n1"], 2);
  CAF_CHECK_EQUAL(load["n2"], 2);
  CAF_CHECK_EQUAL(load["n3"], 2);
  // Every node decides the same from the same view.
  CAF_CHECK(place(view) == placed);
  // Without shared storage only the node with the store can take the profile.
  view.nodes.at("n3").offers[0].has_store = true;
  // Kept before comparing: CAF_CHECK_EQUAL must not look into a temporary.
  auto with_store = place(view);
  CAF_CHECK_EQUAL(with_store.at("a"), "n3");
  // A node that died loses only its own profiles.
  auto before = place(view);
  for (auto& [profile, where] : before)
    view.owners.emplace(profile, ownership{profile, where, 1, 1});
  view.nodes.erase("n1");
  auto after = place(view);
  for (auto& [profile, where] : before)
    if (where != "n1")
      CAF_CHECK_EQUAL(after.at(profile), where);
}
