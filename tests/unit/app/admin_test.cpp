#define CAF_SUITE admin
#include "caf/test/unit_test_impl.hpp"

#include "app/admin_requests.hpp"
#include "app/admin_server.hpp"
#include "app/admin_token.hpp"
#include "app/status_json.hpp"

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

using namespace hm;

namespace {

struct temp_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path()
                               / ("hm-admin-test-" + std::to_string(::getpid()));
  temp_dir() { std::filesystem::create_directories(path); }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st{};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

} // namespace

CAF_TEST(tokens match only when equal) {
  CAF_CHECK(same_token("s3cret-token", "s3cret-token"));
  CAF_CHECK(!same_token("s3cret-tokeN", "s3cret-token"));
  CAF_CHECK(!same_token("s3cret", "s3cret-token"));
  CAF_CHECK(!same_token("s3cret-token-and-more", "s3cret-token"));
  CAF_CHECK(!same_token("", "s3cret-token"));
  // An empty expected token (a broken file) never lets anyone in.
  CAF_CHECK(!same_token("", ""));
}

CAF_TEST(the bearer token is read from the authorization header) {
  CAF_CHECK(bearer_token("Bearer abc123") == "abc123");
  CAF_CHECK(bearer_token("bearer  abc123 ") == "abc123");
  CAF_CHECK(bearer_token("Basic abc123").empty());
  CAF_CHECK(bearer_token("Bearer ").empty());
  CAF_CHECK(bearer_token("").empty());
}

CAF_TEST(a missing token file is generated private and then reused) {
  temp_dir tmp;
  auto path = default_admin_token_path(tmp.path);
  CAF_CHECK(path == tmp.path / "hermes-matrix" / "admin-token");
  auto first = read_or_create_admin_token(path);
  CAF_REQUIRE(first.error.empty());
  CAF_CHECK_EQUAL(first.value.size(), 64u);
  CAF_CHECK_EQUAL(mode_of(path), 0600u);
  CAF_CHECK_EQUAL(mode_of(path.parent_path()), 0700u);
  auto again = read_or_create_admin_token(path);
  CAF_CHECK_EQUAL(again.value, first.value);
  auto other = read_or_create_admin_token(tmp.path / "elsewhere" / "admin-token");
  CAF_CHECK_NOT_EQUAL(other.value, first.value);
}

CAF_TEST(a given token file must exist and hold one token) {
  temp_dir tmp;
  auto missing = read_admin_token(tmp.path / "nope");
  CAF_CHECK(missing.value.empty());
  CAF_CHECK(missing.error.find("nope") != std::string::npos);
  auto write = [&](const char* name, const char* text) {
    std::ofstream{tmp.path / name} << text;
    ::chmod((tmp.path / name).c_str(), 0600);
  };
  write("empty", "\n  \n");
  auto empty = read_admin_token(tmp.path / "empty");
  CAF_CHECK(empty.error.find("is empty") != std::string::npos);
  write("two", "one-long-enough-token\ntwo\n");
  CAF_CHECK(!read_admin_token(tmp.path / "two").error.empty());
  write("good", "  tok-en_1-of-enough-length\n");
  auto good = read_admin_token(tmp.path / "good");
  CAF_CHECK(good.error.empty());
  CAF_CHECK_EQUAL(good.value, "tok-en_1-of-enough-length");
}

CAF_TEST(a token file follows the pickle key rules) {
  temp_dir tmp;
  auto file = tmp.path / "token";
  std::ofstream{file} << "tok-en_1-of-enough-length\n";
  ::chmod(file.c_str(), 0666);
  auto open_to_all = read_admin_token(file);
  CAF_CHECK(open_to_all.value.empty());
  CAF_CHECK(open_to_all.error.find("chmod 600") != std::string::npos);
  ::chmod(file.c_str(), 0600);
  CAF_CHECK(read_admin_token(file).error.empty());
  std::ofstream{file} << "abcd\n";
  CAF_CHECK(read_admin_token(file).error.find("too short") != std::string::npos);
  std::filesystem::create_symlink(file, tmp.path / "linked");
  CAF_CHECK(read_admin_token(tmp.path / "linked").error.find("symbolic link")
            != std::string::npos);
  // A link planted where the generated token goes is not followed either.
  auto target = tmp.path / "attacker-reads-this";
  std::filesystem::create_directories(tmp.path / "hermes-matrix");
  std::filesystem::create_symlink(target, default_admin_token_path(tmp.path));
  auto planted = read_or_create_admin_token(default_admin_token_path(tmp.path));
  CAF_CHECK(!planted.error.empty());
  CAF_CHECK(!std::filesystem::exists(target));
}

CAF_TEST(listen addresses) {
  auto at = [](std::string_view text) {
    return parse_admin_listen(text).value();
  };
  CAF_CHECK(!at("off"));
  auto v4 = at("127.0.0.1:9465");
  CAF_CHECK(v4 && v4->host == "127.0.0.1" && v4->port == 9465);
  auto v6 = at("[::1]:0");
  CAF_CHECK(v6 && v6->host == "::1" && v6->port == 0);
  auto bare = at(":9000");
  CAF_CHECK(bare && bare->host == "127.0.0.1" && bare->port == 9000);
  auto named = at("localhost:9465");
  CAF_CHECK(named && named->host == "localhost");
  for (auto bad : {"9465", "localhost:", "localhost:http", "localhost:70000", "host:-1",
                   "example.org:9465", "[::1:9465"})
    CAF_CHECK(!parse_admin_listen(bad).has_value());
  for (auto local : {"127.0.0.1", "127.1.2.3", "::1", "localhost"})
    CAF_CHECK(is_loopback_host(local));
  for (auto remote : {"0.0.0.0", "::", "10.0.0.5", "example.org", "1270.0.0.1", "127.evil.org"})
    CAF_CHECK(!is_loopback_host(remote));
}

CAF_TEST(status json and readiness) {
  using namespace std::chrono_literals;
  caf::timestamp now{std::chrono::hours{1000}};
  std::vector<profile_status> all(4);
  all[0].profile = "ready";
  all[0].state = profile_state::running;
  all[0].synced = true;
  all[0].last_sync = now - 5s;
  all[0].outbox_queue = 2;
  all[1].profile = "starting";
  all[1].state = profile_state::running; // running, but no sync committed yet
  all[2].profile = "broken";
  all[2].state = profile_state::invalid; // never started: does not hold readiness back
  all[3].profile = "backoff";
  all[3].state = profile_state::backoff;
  all[3].last_sync = now - 90s;          // synced in an earlier life
  all[3].last_error = "the profile cell exited";
  auto j = status_json(all, now);
  auto& p = j["profiles"];
  CAF_REQUIRE_EQUAL(p.size(), 4u);
  CAF_CHECK(p[0]["state"] == "running");
  CAF_CHECK(p[0]["last_sync_age_seconds"] == 5.0);
  CAF_CHECK(p[0]["last_sync"] == rfc3339(now - 5s));
  CAF_CHECK(p[0]["outbox_queue"] == 2);
  CAF_CHECK(p[1]["last_sync"].is_null());
  CAF_CHECK(p[3]["last_error"] == "the profile cell exited");
  std::vector<std::string> waiting;
  for (auto* s : not_ready(all))
    waiting.push_back(s->profile);
  CAF_CHECK_EQUAL(waiting, (std::vector<std::string>{"starting", "backoff"}));
  CAF_CHECK(rfc3339(caf::timestamp{std::chrono::seconds{86400 + 61}})
            == "1970-01-02T00:01:01Z");
}

namespace {

hm::httpd::request request_of(std::string method, std::string path, std::string auth = {}) {
  hm::httpd::request r;
  r.method = std::move(method);
  r.path = std::move(path);
  if (!auth.empty())
    r.headers.emplace_back("authorization", std::move(auth));
  return r;
}

} // namespace

CAF_TEST(requests are routed by method and path) {
  using kind = admin_route::kind;
  auto route = [](std::string method, std::string path) {
    return route_of(request_of(std::move(method), std::move(path)));
  };
  CAF_CHECK(std::get<admin_route>(route("GET", "/healthz")).what == kind::healthz);
  CAF_CHECK(std::get<admin_route>(route("HEAD", "/readyz")).what == kind::readyz);
  CAF_CHECK(std::get<admin_route>(route("GET", "/v1/status")).what == kind::status);
  auto n = std::get<admin_route>(route("POST", "/v1/profiles/coder/notify"));
  CAF_CHECK(n.what == kind::notify && n.profile == "coder");
  CAF_CHECK(needs_token(n));
  CAF_CHECK(!needs_token(std::get<admin_route>(route("GET", "/readyz"))));
  auto wrong = route("POST", "/v1/status");
  CAF_REQUIRE(std::holds_alternative<hm::httpd::response>(wrong));
  auto& wrong_method = std::get<hm::httpd::response>(wrong);
  CAF_CHECK(wrong_method.status == 405);
  CAF_CHECK(wrong_method.headers.size() == 1 && wrong_method.headers[0].second == "GET");
  auto status_of = [&](std::string method, std::string path) {
    auto r = route(std::move(method), std::move(path));
    return std::holds_alternative<hm::httpd::response>(r)
             ? std::get<hm::httpd::response>(r).status
             : 0;
  };
  CAF_CHECK_EQUAL(status_of("GET", "/v1/profiles/a/notify"), 405);
  for (auto path : {"/", "/v1/profiles//notify", "/v1/profiles/a/b/notify", "/healthz/",
                    "/v1/profiles/a/verifications/b/c"})
    CAF_CHECK_EQUAL(status_of("GET", path), 404);
  auto list = std::get<admin_route>(route("GET", "/v1/profiles/coder/verifications"));
  CAF_CHECK(list.what == kind::verifications && list.profile == "coder");
  CAF_CHECK(needs_token(list));
  auto act = std::get<admin_route>(route("POST", "/v1/profiles/coder/verifications/$ab:hs"));
  CAF_CHECK(act.what == kind::verification_action && act.profile == "coder"
            && act.flow_id == "$ab:hs");
  CAF_CHECK(needs_token(act));
  CAF_CHECK_EQUAL(status_of("POST", "/v1/profiles/a/verifications"), 405);
  CAF_CHECK_EQUAL(status_of("GET", "/v1/profiles/a/verifications/f"), 405);
}

CAF_TEST(verification actions) {
  // The answers are kept before they are compared: CAF_CHECK_EQUAL would hold a
  // reference into the temporary expected (stack-use-after-scope under ASan).
  for (auto [word, choice] :
       {std::pair{"confirm", verification_choice::confirm},
        std::pair{"reject", verification_choice::reject},
        std::pair{"cancel", verification_choice::cancel},
        std::pair{"timeout", verification_choice::timeout}}) {
    auto read = read_verification_action(R"({"action":")" + std::string{word} + R"("})");
    CAF_REQUIRE(read.has_value());
    CAF_CHECK(*read == choice);
    CAF_CHECK(to_string(*read) == word);
  }
  for (auto bad : {"", "[]", R"({"action":"approve"})", R"({"action":1})",
                   R"({"action":"confirm","x":1})"}) {
    auto read = read_verification_action(bad);
    CAF_CHECK(!read.has_value());
    CAF_CHECK(read.error().code == hm::error_code::invalid_input);
    CAF_CHECK(read.error().message.find("confirm, reject or cancel") != std::string::npos);
  }
}

CAF_TEST(the token is checked from the authorization header alone) {
  std::string token = "0123456789abcdef-token";
  CAF_CHECK(!refused(request_of("GET", "/v1/status", "Bearer " + token), token));
  auto missing = refused(request_of("GET", "/v1/status"), token);
  CAF_REQUIRE(missing);
  CAF_CHECK_EQUAL(missing->status, 401);
  CAF_CHECK(missing->body.find("\"errcode\": \"unauthorized\"") != std::string::npos);
  auto wrong = refused(request_of("GET", "/v1/status", "Bearer nope"), token);
  CAF_REQUIRE(wrong);
  CAF_CHECK(wrong->body.find("wrong admin token") != std::string::npos);
  CAF_CHECK(wrong->body.find(token) == std::string::npos);
}

CAF_TEST(notification bodies) {
  auto ok = read_notification(R"({"body": "hi", "format": "markdown", "idempotency_key": "k1"})");
  CAF_REQUIRE(ok.has_value());
  CAF_CHECK(ok->body == "hi" && ok->format == "markdown" && ok->key == "k1");
  for (auto bad : {"", "[]", "{}", R"({"body": ""})", R"({"body": 1})",
                   R"({"body": "x", "format": "html"})", R"({"body": "x", "room": "!r"})",
                   R"({"body": "x", "idempotency_key": ""})"}) {
    auto read = read_notification(bad);
    CAF_CHECK(!read.has_value());
    CAF_CHECK(!read.error().message.empty());
  }
  std::string longest(max_notify_body, 'x');
  CAF_CHECK(read_notification(R"({"body": ")" + longest + R"("})").has_value());
  CAF_CHECK(!read_notification(R"({"body": ")" + longest + R"(x"})").has_value());
}
