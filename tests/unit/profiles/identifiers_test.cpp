// Matrix id and URL syntax.
#define CAF_SUITE identifiers
#include "caf/test/unit_test.hpp"

#include "profiles/identifiers.hpp"

using namespace hm::profiles;

CAF_TEST(user ids) {
  CAF_CHECK(user_id_syntax("@doru:chiabur.xyz") == id_syntax::valid);
  CAF_CHECK(user_id_syntax("@hermes-coder:chiabur.xyz") == id_syntax::valid);
  CAF_CHECK(user_id_syntax("@a.b_c=d/e+f:example.org:8448") == id_syntax::valid);
  CAF_CHECK(user_id_syntax("@bot:[::1]:8448") == id_syntax::valid);
  CAF_CHECK(user_id_syntax("@bot:127.0.0.1") == id_syntax::valid);
  CAF_CHECK(user_id_syntax("@Doru:example.org") == id_syntax::historical);
  CAF_CHECK(user_id_syntax("doru:example.org") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@doru") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@:example.org") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@do ru:example.org") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@doru:exa mple.org") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@doru:example.org:99999") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@doru:") == id_syntax::invalid);
  CAF_CHECK(user_id_syntax("@" + std::string(300, 'a') + ":x.org") == id_syntax::invalid);
}

CAF_TEST(room ids and aliases) {
  CAF_CHECK(valid_room_id("!CinRAVDERPuYUJSjBz:chiabur.xyz"));
  CAF_CHECK(valid_room_id("!dTrQicK0YGC8YxepExnDhhmVWD9O2u3QRiTwj4YaY20")); // room v12
  CAF_CHECK(!valid_room_id("#room:chiabur.xyz"));
  CAF_CHECK(!valid_room_id("!:chiabur.xyz"));
  CAF_CHECK(!valid_room_id("!a b:chiabur.xyz"));
  CAF_CHECK(!valid_room_id("!abc:"));
  CAF_CHECK(looks_like_room_alias("#coder-bot:chiabur.xyz"));
  CAF_CHECK(!looks_like_room_alias("#coder-bot"));
}

CAF_TEST(urls) {
  CAF_CHECK(!url_problem("https://matrix.example.org", "http,https"));
  CAF_CHECK(!url_problem("http://10.0.4.100:8642", "http,https"));
  CAF_CHECK(!url_problem("HTTPS://matrix.example.org/base/", "http,https"));
  CAF_CHECK(!url_problem("http://user:pw@[::1]:3128", "http,https"));
  CAF_CHECK(!url_problem("socks5h://127.0.0.1:9050", "http,https,socks5h"));
  CAF_CHECK(url_problem("matrix.example.org", "http,https").has_value());
  CAF_CHECK(url_problem("ftp://matrix.example.org", "http,https").has_value());
  CAF_CHECK(url_problem("https://", "http,https").has_value());
  CAF_CHECK(url_problem("https:///path", "http,https").has_value());
  CAF_CHECK(url_problem("https://exa mple.org", "http,https").has_value());
  CAF_CHECK(url_problem("https://example.org:70000", "http,https").has_value());
  CAF_CHECK(url_problem("", "http,https").has_value());
  // The reason never repeats the URL (it may hold credentials).
  auto why = url_problem("ftp://user:hunter2@host", "http,https");
  CAF_REQUIRE(why.has_value());
  CAF_CHECK(why->find("hunter2") == std::string::npos);
  CAF_CHECK_EQUAL(url_host("https://User:x@Matrix.Example.org:8448/x"), "matrix.example.org");
}

CAF_TEST(a url is printed without its credentials) {
  CAF_CHECK_EQUAL(printable_url("http://user:password@hs.example.org:8008/base?x=1"),
                  "http://[redacted]@hs.example.org:8008/base?x=1");
  CAF_CHECK_EQUAL(printable_url("http://a@b@host/"), "http://[redacted]@host/");
  CAF_CHECK_EQUAL(printable_url("https://matrix.example.org/p/a@b"),
                  "https://matrix.example.org/p/a@b"); // '@' in the path is no credential
  CAF_CHECK_EQUAL(printable_url("https://matrix.example.org"), "https://matrix.example.org");
  CAF_CHECK_EQUAL(printable_url("user:pw@host:3128"), "[redacted]@host:3128");
  CAF_CHECK_EQUAL(printable_url(""), "");
}
