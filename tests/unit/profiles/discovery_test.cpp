// discover_profiles / select_profiles / load_profiles over trees made in a temp dir
// and over the committed tests/fixtures/six-profiles (never the real ~/.hermes).
#define CAF_SUITE discovery
#include "caf/test/unit_test.hpp"

#include "profiles/discovery.hpp"
#include "test_support.hpp"

#include <cstdlib>

using namespace hm::profiles;
using namespace hm::profiles::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names(const std::vector<profile_dir>& found) {
  std::vector<std::string> out;
  for (const auto& p : found)
    out.push_back(p.name);
  return out;
}

const loaded_profile& named(const profile_set& set, const std::string& name) {
  for (const auto& p : set.profiles)
    if (p.config.name == name)
      return p;
  CAF_FAIL("no profile " << name);
}

} // namespace

CAF_TEST(names) {
  CAF_CHECK(valid_profile_name("coder"));
  CAF_CHECK(valid_profile_name("academic_researcher"));
  CAF_CHECK(valid_profile_name("on-docker"));
  CAF_CHECK(valid_profile_name("0"));
  CAF_CHECK(valid_profile_name(std::string(64, 'a')));
  CAF_CHECK(!valid_profile_name(std::string(65, 'a')));
  CAF_CHECK(!valid_profile_name(""));
  CAF_CHECK(!valid_profile_name("-coder"));
  CAF_CHECK(!valid_profile_name("_coder"));
  CAF_CHECK(!valid_profile_name("Coder"));
  CAF_CHECK(!valid_profile_name("my coder"));
  CAF_CHECK(!valid_profile_name(".git"));
}

CAF_TEST(hermes home from the environment) {
  const char* old = std::getenv("HERMES_HOME");
  std::string saved = old ? old : "";
  ::setenv("HERMES_HOME", "/tmp/hm-somewhere", 1);
  CAF_CHECK_EQUAL(default_hermes_home(), fs::path("/tmp/hm-somewhere"));
  ::setenv("HERMES_HOME", "", 1);
  CAF_CHECK_EQUAL(default_hermes_home().filename(), fs::path(".hermes"));
  if (old)
    ::setenv("HERMES_HOME", saved.c_str(), 1);
  else
    ::unsetenv("HERMES_HOME");
}

CAF_TEST(tree in a temp dir) {
  temp_dir tmp;
  auto home = tmp.path / "hermes";
  write_file(home / ".env", "A=1\n");
  write_file(home / "profiles" / "zeta" / ".env", "A=1\n");
  fs::create_directories(home / "profiles" / "alpha");
  fs::create_directories(home / "profiles" / "Bad Name");
  fs::create_directories(home / "profiles" / ".hidden");
  write_file(home / "profiles" / "notes.txt", "not a profile");
  auto d = discover_profiles(home);
  CAF_CHECK_EQUAL(names(d.found), (std::vector<std::string>{"default", "alpha", "zeta"}));
  CAF_CHECK_EQUAL(d.found[0].dir, home);
  CAF_CHECK_EQUAL(warnings(d.issues), 2);
  CAF_CHECK(all_text(d.issues).find("'Bad Name'") != std::string::npos);
  CAF_CHECK(all_text(d.issues).find("'.hidden'") != std::string::npos);
  CAF_CHECK_EQUAL(errors(d.issues), 0);
}

CAF_TEST(home without profiles dir and missing home) {
  temp_dir tmp;
  auto d = discover_profiles(tmp.path);
  CAF_CHECK_EQUAL(names(d.found), std::vector<std::string>{"default"});
  CAF_CHECK(d.issues.empty());
  auto missing = discover_profiles(tmp.path / "nope");
  CAF_CHECK(missing.found.empty());
  CAF_CHECK_EQUAL(errors(missing.issues), 1);
}

CAF_TEST(selection) {
  temp_dir tmp;
  fs::create_directories(tmp.path / "profiles" / "coder");
  fs::create_directories(tmp.path / "profiles" / "locallama");
  auto all = discover_profiles(tmp.path);
  auto some = select_profiles(all, {"locallama", "default"});
  CAF_CHECK_EQUAL(names(some.found), (std::vector<std::string>{"default", "locallama"}));
  CAF_CHECK(some.issues.empty());
  auto unknown = select_profiles(all, {"coder", "ghost"});
  CAF_CHECK_EQUAL(names(unknown.found), std::vector<std::string>{"coder"});
  CAF_REQUIRE_EQUAL(errors(unknown.issues), 1);
  CAF_CHECK(unknown.issues[0].message.find("'ghost'") != std::string::npos);
  CAF_CHECK(unknown.issues[0].fix.find("coder") != std::string::npos);
  CAF_CHECK_EQUAL(select_profiles(all, {}).found.size(), 3u);
}

CAF_TEST(profile without env is not on matrix and not an error) {
  temp_dir tmp;
  fs::create_directories(tmp.path / "profiles" / "coder");
  auto set = load_profiles(tmp.path, {});
  CAF_REQUIRE_EQUAL(set.profiles.size(), 2u);
  CAF_CHECK(!set.profiles[1].config.on_matrix());
  CAF_CHECK(set.profiles[1].issues.empty());
}

CAF_TEST(readable env with secrets gets a mode warning) {
  temp_dir tmp;
  write_file(tmp.path / ".env",
             "MATRIX_HOMESERVER=https://m.org\nMATRIX_ACCESS_TOKEN=syt_x\nMATRIX_ALLOW_ALL_USERS=1\n", 0644);
  auto p = load_profile("default", tmp.path);
  CAF_CHECK(p.usable());
  CAF_CHECK(all_text(p.issues).find("chmod 600") != std::string::npos);
  ::chmod((tmp.path / ".env").c_str(), 0600);
  CAF_CHECK(load_profile("default", tmp.path).issues.empty());
}

CAF_TEST(committed six profile fixture) {
  auto home = fs::path(HM_TEST_FIXTURES_DIR) / "six-profiles";
  auto set = load_profiles(home, {});
  CAF_CHECK(set.issues.empty());
  std::vector<std::string> found;
  for (const auto& p : set.profiles)
    found.push_back(p.config.name);
  CAF_CHECK_EQUAL(found, (std::vector<std::string>{"default", "academic_researcher", "coder",
                                                   "locallama", "on-docker", "profile-architect"}));

  const auto& def = named(set, "default");
  CAF_CHECK(def.usable());
  CAF_CHECK(def.config.e2ee == e2ee_mode::required);
  CAF_CHECK_EQUAL(def.config.user_id, "@hermes:chiabur.xyz");

  const auto& researcher = named(set, "academic_researcher");
  CAF_CHECK(!researcher.usable());
  CAF_CHECK(find(researcher.issues, 4, "MATRIX_ALLOWED_USERS", "'doru:chiabur.xyz'") != nullptr);
  CAF_CHECK(find(researcher.issues, 6, "MATRIX_HOME_ROOM", "never closed") != nullptr);
  CAF_CHECK(researcher.config.home_room.empty());
  CAF_CHECK(researcher.config.e2ee == e2ee_mode::required); // line 7 still counts
  CAF_CHECK_EQUAL(errors(researcher.issues), 2);

  const auto& llama = named(set, "locallama");
  CAF_CHECK(!llama.usable());
  auto* bad_url = find(llama.issues, 2, "MATRIX_HOMESERVER", "not a valid URL");
  CAF_REQUIRE(bad_url != nullptr);
  CAF_CHECK(bad_url->to_string().find("locallama/.env:2: MATRIX_HOMESERVER: ") != std::string::npos);

  const auto& coder = named(set, "coder");
  const auto& docker = named(set, "on-docker");
  CAF_CHECK(!coder.usable());
  CAF_CHECK(!docker.usable());
  CAF_CHECK(find(coder.issues, 3, "MATRIX_ACCESS_TOKEN", "'on-docker'") != nullptr);
  CAF_CHECK(find(docker.issues, 3, "MATRIX_ACCESS_TOKEN", "'coder'") != nullptr);
  CAF_CHECK(docker.config.e2ee == e2ee_mode::required); // legacy MATRIX_ENCRYPTION=true

  const auto& architect = named(set, "profile-architect");
  CAF_CHECK(architect.usable());
  CAF_CHECK_EQUAL(architect.config.homeserver, "https://matrix.chiabur.xyz");
  CAF_CHECK_EQUAL(architect.config.password.reveal(), "correct horse battery staple");
  CAF_CHECK_EQUAL(architect.config.allowed_users.size(), 2u);
  CAF_CHECK(architect.config.scope == session_scope::thread);

  // Nothing in any problem shows a token or password from the fixture.
  for (const auto& p : set.profiles) {
    auto text = all_text(p.issues);
    CAF_CHECK(text.find("syt_") == std::string::npos);
    CAF_CHECK(text.find("correct horse") == std::string::npos);
    CAF_CHECK(text.find("your-secret-key-here") == std::string::npos);
  }
}
