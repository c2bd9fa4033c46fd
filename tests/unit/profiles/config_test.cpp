// make_profile / check_across_profiles: every key, Hermes' defaults and aliases, and
// validation problems that name file:line:KEY and never a secret.
#define CAF_SUITE config
#include "caf/test/unit_test.hpp"

#include "profiles/config.hpp"
#include "test_support.hpp"

using namespace hm::profiles;
using namespace hm::profiles::test;
using severity = problem::severity;

namespace {

const std::string token = "syt_aGVybWVzLWNvZGVy_QbTfVxLrBJmZkTqPRuWw_1a2b3c";

loaded_profile load(const std::string& text, const std::string& name = "coder") {
  return make_profile(name, "/p/" + name, parse_dotenv(text, "/p/" + name + "/.env"));
}

/// The first problem about `key`, or nullptr.
const problem* about(const loaded_profile& p, std::string_view key) {
  for (const auto& i : p.issues)
    if (i.key == key)
      return &i;
  return nullptr;
}

const std::string base = "MATRIX_HOMESERVER=https://matrix.chiabur.xyz\n"
                         "MATRIX_ACCESS_TOKEN=" + token + "\n"
                         "MATRIX_ALLOWED_USERS=@doru:chiabur.xyz\n";

} // namespace

CAF_TEST(defaults) {
  auto p = load("");
  const auto& c = p.config;
  CAF_CHECK(!c.on_matrix());
  CAF_CHECK(!p.usable());
  CAF_CHECK(p.issues.empty());
  CAF_CHECK_EQUAL(c.name, "coder");
  CAF_CHECK(c.e2ee == e2ee_mode::off);
  CAF_CHECK(c.allowed_users.empty());
  CAF_CHECK(!c.allow_all_users);
  CAF_CHECK(c.require_mention);
  CAF_CHECK(!c.process_notices);
  CAF_CHECK(c.auto_thread);
  CAF_CHECK(c.scope == session_scope::automatic);
  CAF_CHECK_EQUAL(c.max_message_length, 16000);
  CAF_CHECK(c.reactions);
  CAF_CHECK_EQUAL(c.agent_model, "coder");
  CAF_CHECK(!c.send_history.has_value());
  CAF_CHECK_EQUAL(std::string(to_string(c.e2ee)), "off");
  CAF_CHECK_EQUAL(std::string(to_string(c.scope)), "auto");
}

CAF_TEST(the seed coder profile) {
  auto p = load("# Matrix Gateway — Coder Profile\n"
                "MATRIX_HOMESERVER=https://matrix.chiabur.xyz/\n"
                "MATRIX_ACCESS_TOKEN=" + token + "  # token for @hermes-coder:chiabur.xyz\n"
                "MATRIX_ALLOWED_USERS=@doru:chiabur.xyz\n"
                "MATRIX_REQUIRE_MENTION=false\n"
                "MATRIX_E2EE_MODE=required\n"
                "MATRIX_HOME_ROOM=!CinRAVDERPuYUJSjBz:chiabur.xyz\n");
  const auto& c = p.config;
  CAF_CHECK(p.usable());
  CAF_CHECK_EQUAL(all_text(p.issues), "");
  CAF_CHECK_EQUAL(c.homeserver, "https://matrix.chiabur.xyz");
  CAF_CHECK_EQUAL(c.access_token.reveal(), token);
  CAF_CHECK_EQUAL(c.allowed_users, std::vector<std::string>{"@doru:chiabur.xyz"});
  CAF_CHECK(!c.require_mention);
  CAF_CHECK(c.e2ee == e2ee_mode::required);
  CAF_CHECK_EQUAL(c.home_room, "!CinRAVDERPuYUJSjBz:chiabur.xyz");
  CAF_CHECK_EQUAL(p.key_lines.at("MATRIX_HOME_ROOM"), 7);
}

CAF_TEST(every remaining key) {
  auto p = load(base +
                "MATRIX_USER_ID=@hermes-coder:chiabur.xyz\n"
                "MATRIX_PASSWORD=hunter2\n"
                "MATRIX_DEVICE_ID=HERMES_CODER\n"
                "MATRIX_PROXY=socks5h://127.0.0.1:9050\n"
                "MATRIX_RECOVERY_KEY='EsTc aaaa bbbb'\n"
                "MATRIX_PICKLE_KEY=pickle-secret\n"
                "MATRIX_ALLOW_ALL_USERS=yes\n"
                "MATRIX_ALLOWED_ROOMS=!a:chiabur.xyz, !b:chiabur.xyz\n"
                "MATRIX_FREE_RESPONSE_ROOMS=!a:chiabur.xyz\n"
                "MATRIX_IGNORE_USER_PATTERNS=^@telegram_.*:chiabur\\.xyz$,^@bot\n"
                "MATRIX_PROCESS_NOTICES=true\n"
                "MATRIX_AUTO_THREAD=false\n"
                "MATRIX_SESSION_SCOPE=Thread\n"
                "MATRIX_MAX_MESSAGE_LENGTH=4000\n"
                "MATRIX_REACTIONS=0\n"
                "GATEWAY_PROXY_URL=http://10.0.4.100:8642/\n"
                "GATEWAY_PROXY_KEY=your-secret-key-here\n"
                "HERMES_MATRIX_MODEL=hermes-4\n"
                "HERMES_MATRIX_SEND_HISTORY=on\n"
                "HERMES_MATRIX_NODE=node-2\n");
  const auto& c = p.config;
  CAF_CHECK_EQUAL(all_text(p.issues), "");
  CAF_CHECK_EQUAL(c.user_id, "@hermes-coder:chiabur.xyz");
  CAF_CHECK_EQUAL(c.password.reveal(), "hunter2");
  CAF_CHECK_EQUAL(c.device_id, "HERMES_CODER");
  CAF_CHECK_EQUAL(c.proxy, "socks5h://127.0.0.1:9050");
  CAF_CHECK_EQUAL(c.recovery_key.reveal(), "EsTc aaaa bbbb");
  CAF_CHECK_EQUAL(c.pickle_key.reveal(), "pickle-secret");
  CAF_CHECK(c.allow_all_users);
  CAF_CHECK_EQUAL(c.allowed_rooms, (std::vector<std::string>{"!a:chiabur.xyz", "!b:chiabur.xyz"}));
  CAF_CHECK_EQUAL(c.free_response_rooms, std::vector<std::string>{"!a:chiabur.xyz"});
  CAF_CHECK_EQUAL(c.ignore_user_patterns.size(), 2u);
  CAF_CHECK(c.process_notices);
  CAF_CHECK(!c.auto_thread);
  CAF_CHECK(c.scope == session_scope::thread);
  CAF_CHECK_EQUAL(c.max_message_length, 4000);
  CAF_CHECK(!c.reactions);
  CAF_CHECK_EQUAL(c.agent_url, "http://10.0.4.100:8642");
  CAF_CHECK_EQUAL(c.agent_key.reveal(), "your-secret-key-here");
  CAF_CHECK_EQUAL(c.agent_model, "hermes-4");
  CAF_CHECK(c.send_history == std::optional<bool>{true});
  CAF_CHECK_EQUAL(c.node, "node-2");
}

CAF_TEST(e2ee mode aliases) {
  const std::vector<std::pair<std::string, e2ee_mode>> cases = {
    {"off", e2ee_mode::off},           {"false", e2ee_mode::off},
    {"0", e2ee_mode::off},             {"no", e2ee_mode::off},
    {"disabled", e2ee_mode::off},      {"optional", e2ee_mode::optional},
    {"prefer", e2ee_mode::optional},   {"Preferred", e2ee_mode::optional},
    {"required", e2ee_mode::required}, {"require", e2ee_mode::required},
    {"true", e2ee_mode::required},     {"1", e2ee_mode::required},
    {"YES", e2ee_mode::required},      {"on", e2ee_mode::required}};
  for (const auto& [word, mode] : cases) {
    auto p = load(base + "MATRIX_E2EE_MODE=" + word + "\n");
    CAF_CHECK(p.config.e2ee == mode);
    CAF_CHECK_EQUAL(errors(p.issues), 0);
  }
}

CAF_TEST(e2ee typo is an error and means off) {
  auto p = load(base + "MATRIX_E2EE_MODE=requried\n");
  CAF_CHECK(p.config.e2ee == e2ee_mode::off);
  auto* i = about(p, "MATRIX_E2EE_MODE");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::error);
  CAF_CHECK_EQUAL(i->line, 4);
  CAF_CHECK(!p.usable());
}

CAF_TEST(key backup creation is off unless asked for and a typo says where) {
  CAF_CHECK(!load(base).config.create_key_backup);
  CAF_CHECK(!load(base + "MATRIX_KEY_BACKUP=off\n").config.create_key_backup);
  auto p = load(base + "MATRIX_KEY_BACKUP=Create\n");
  CAF_CHECK(p.config.create_key_backup);
  CAF_CHECK_EQUAL(errors(p.issues), 0);
  auto typo = load(base + "MATRIX_KEY_BACKUP=yes\n");
  CAF_CHECK(!typo.config.create_key_backup);
  auto* i = about(typo, "MATRIX_KEY_BACKUP");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::error);
  CAF_CHECK_EQUAL(i->line, 4);
  CAF_CHECK(!typo.usable());
}

CAF_TEST(undecryptable notice wait) {
  CAF_CHECK_EQUAL(load(base).config.undecryptable_notice_seconds, 60);
  CAF_CHECK_EQUAL(load(base + "HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS=5\n")
                    .config.undecryptable_notice_seconds,
                  5);
  CAF_CHECK_EQUAL(load(base + "HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS=0\n")
                    .config.undecryptable_notice_seconds,
                  0);
  for (const char* bad : {"soon", "-1", "5s", "86401"}) {
    auto p = load(base + "HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS=" + bad + "\n");
    CAF_CHECK_EQUAL(p.config.undecryptable_notice_seconds, 60);
    auto* i = about(p, "HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS");
    CAF_REQUIRE(i != nullptr);
    CAF_CHECK(i->level == severity::error);
  }
}

CAF_TEST(legacy matrix encryption) {
  CAF_CHECK(load(base + "MATRIX_ENCRYPTION=true\n").config.e2ee == e2ee_mode::required);
  CAF_CHECK(load(base + "MATRIX_ENCRYPTION=false\n").config.e2ee == e2ee_mode::off);
  auto both = load(base + "MATRIX_ENCRYPTION=true\nMATRIX_E2EE_MODE=optional\n");
  CAF_CHECK(both.config.e2ee == e2ee_mode::optional);
  CAF_CHECK(about(both, "MATRIX_ENCRYPTION") != nullptr);
  auto empty_mode = load(base + "MATRIX_ENCRYPTION=1\nMATRIX_E2EE_MODE=\n");
  CAF_CHECK(empty_mode.config.e2ee == e2ee_mode::required);
}

CAF_TEST(booleans as hermes reads them) {
  for (const char* w : {"false", "0", "no", "off", "FALSE"})
    CAF_CHECK(!load(base + "MATRIX_REQUIRE_MENTION=" + w + "\n").config.require_mention);
  auto odd = load(base + "MATRIX_REQUIRE_MENTION=maybe\n");
  CAF_CHECK(odd.config.require_mention);
  CAF_CHECK(about(odd, "MATRIX_REQUIRE_MENTION")->level == severity::warning);
  // MATRIX_REACTIONS: Hermes turns it off only for false/0/no; "off" stays on.
  auto reactions = load(base + "MATRIX_REACTIONS=off\n");
  CAF_CHECK(reactions.config.reactions);
  CAF_CHECK(about(reactions, "MATRIX_REACTIONS") != nullptr);
  // Flags read with true/1/yes: "on" is false in Hermes.
  auto thread = load(base + "MATRIX_AUTO_THREAD=on\n");
  CAF_CHECK(!thread.config.auto_thread);
  CAF_CHECK(about(thread, "MATRIX_AUTO_THREAD") != nullptr);
  CAF_CHECK(load(base + "MATRIX_AUTO_THREAD=\n").config.auto_thread); // empty: default
  CAF_CHECK(load(base + "GATEWAY_ALLOW_ALL_USERS=1\n").config.allow_all_users);
  CAF_CHECK(load(base + "MATRIX_PROCESS_NOTICES=Yes\n").config.process_notices);
  CAF_CHECK(!load(base + "HERMES_MATRIX_SEND_HISTORY=false\n").config.send_history.value());
  CAF_CHECK_EQUAL(errors(load(base + "HERMES_MATRIX_SEND_HISTORY=sometimes\n").issues), 1);
}

CAF_TEST(lists are trimmed and empties dropped) {
  auto p = load(base + "MATRIX_ALLOWED_USERS= @a:x.org , ,@b:x.org,,@a:x.org,\n");
  CAF_CHECK_EQUAL(p.config.allowed_users, (std::vector<std::string>{"@a:x.org", "@b:x.org"}));
  CAF_CHECK_EQUAL(errors(p.issues), 0);
}

CAF_TEST(gateway wide allowlist is merged) {
  auto p = load(base + "GATEWAY_ALLOWED_USERS=123456789,@alice:chiabur.xyz,@doru:chiabur.xyz\n");
  CAF_CHECK_EQUAL(p.config.allowed_users,
                  (std::vector<std::string>{"@doru:chiabur.xyz", "@alice:chiabur.xyz"}));
  CAF_CHECK_EQUAL(all_text(p.issues), "");
  CAF_CHECK(!p.config.allow_all_users);
  CAF_CHECK(load(base + "GATEWAY_ALLOWED_USERS=*\n").config.allow_all_users);
}

CAF_TEST(homeserver trailing slashes are stripped) {
  CAF_CHECK_EQUAL(load("MATRIX_HOMESERVER=https://m.example.org//\n").config.homeserver,
                  "https://m.example.org");
}

CAF_TEST(max message length like hermes) {
  auto low = load(base + "MATRIX_MAX_MESSAGE_LENGTH=100\n");
  CAF_CHECK_EQUAL(low.config.max_message_length, 500);
  CAF_CHECK(about(low, "MATRIX_MAX_MESSAGE_LENGTH")->level == severity::warning);
  CAF_CHECK_EQUAL(load(base + "MATRIX_MAX_MESSAGE_LENGTH=70000\n").config.max_message_length, 65535);
  CAF_CHECK_EQUAL(load(base + "MATRIX_MAX_MESSAGE_LENGTH=abc\n").config.max_message_length, 16000);
  CAF_CHECK_EQUAL(load(base + "MATRIX_MAX_MESSAGE_LENGTH=99999999999999999999\n").config.max_message_length, 16000);
  CAF_CHECK_EQUAL(load(base + "MATRIX_MAX_MESSAGE_LENGTH=8_000\n").config.max_message_length, 8000);
  auto ok = load(base + "MATRIX_MAX_MESSAGE_LENGTH=65535\n");
  CAF_CHECK_EQUAL(ok.config.max_message_length, 65535);
  CAF_CHECK(ok.issues.empty());
}

CAF_TEST(session scope) {
  CAF_CHECK(load(base + "MATRIX_SESSION_SCOPE=room\n").config.scope == session_scope::room);
  auto odd = load(base + "MATRIX_SESSION_SCOPE=channel\n");
  CAF_CHECK(odd.config.scope == session_scope::automatic);
  CAF_CHECK(about(odd, "MATRIX_SESSION_SCOPE")->level == severity::warning);
}

CAF_TEST(validation problems name file line and key) {
  auto p = load("MATRIX_HOMESERVER=matrix.chiabur.xyz\n"    // 1: no scheme
                "MATRIX_ACCESS_TOKEN=" + token + "\n"       // 2
                "MATRIX_USER_ID=hermes:chiabur.xyz\n"       // 3: no @
                "MATRIX_ALLOWED_USERS=@doru:chiabur.xyz,doru\n" // 4
                "MATRIX_ALLOWED_ROOMS=#coder-bot:chiabur.xyz\n" // 5: alias
                "MATRIX_FREE_RESPONSE_ROOMS=!ok:chiabur.xyz,nope\n" // 6
                "MATRIX_HOME_ROOM=CinRAVDERPuYUJSjBz\n"     // 7
                "MATRIX_IGNORE_USER_PATTERNS=^@ok,([unclosed\n" // 8
                "GATEWAY_PROXY_URL=http://exa mple:8642\n"  // 9
                "MATRIX_PROXY=ftp://proxy\n"                // 10
                "MATRIX_DEVICE_ID=HERMES CODER\n");         // 11
  const std::vector<std::pair<int, std::string>> expected = {
    {1, "MATRIX_HOMESERVER"}, {3, "MATRIX_USER_ID"}, {4, "MATRIX_ALLOWED_USERS"},
    {5, "MATRIX_ALLOWED_ROOMS"}, {6, "MATRIX_FREE_RESPONSE_ROOMS"}, {7, "MATRIX_HOME_ROOM"},
    {8, "MATRIX_IGNORE_USER_PATTERNS"}, {9, "GATEWAY_PROXY_URL"}, {10, "MATRIX_PROXY"},
    {11, "MATRIX_DEVICE_ID"}};
  for (const auto& [line, key] : expected) {
    auto* i = find(p.issues, line, key);
    CAF_REQUIRE(i != nullptr);
    CAF_CHECK(i->level == severity::error);
    CAF_CHECK(!i->fix.empty());
    CAF_CHECK(i->to_string().rfind("/p/coder/.env:" + std::to_string(line) + ": " + key + ": ", 0) == 0);
  }
  CAF_CHECK_EQUAL(errors(p.issues), static_cast<int>(expected.size()));
  CAF_CHECK(find(p.issues, 4, "MATRIX_ALLOWED_USERS", "'doru'") != nullptr);
  CAF_CHECK(find(p.issues, 5, "MATRIX_ALLOWED_ROOMS", "alias") != nullptr);
  CAF_CHECK(find(p.issues, 8, "MATRIX_IGNORE_USER_PATTERNS", "([unclosed") != nullptr);
  CAF_CHECK(!p.usable());
}

CAF_TEST(homeserver required on matrix) {
  auto p = load("MATRIX_ACCESS_TOKEN=" + token + "\nMATRIX_ALLOWED_USERS=@a:b.org\n");
  auto* i = about(p, "MATRIX_HOMESERVER");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::error);
  CAF_CHECK(!p.usable());
  CAF_CHECK(load("MATRIX_ALLOWED_USERS=@a:b.org\n").issues.empty()); // not on Matrix: fine
}

CAF_TEST(password login needs a user id) {
  auto p = load("MATRIX_HOMESERVER=https://m.org\nMATRIX_PASSWORD=hunter2\nMATRIX_ALLOWED_USERS=@a:m.org\n");
  CAF_CHECK(p.config.on_matrix());
  auto* i = find(p.issues, 2, "MATRIX_PASSWORD");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK(i->level == severity::error);
  CAF_CHECK(all_text(p.issues).find("hunter2") == std::string::npos);
}

CAF_TEST(warnings that leave the profile usable) {
  auto p = load(base + "MATRIX_USER_ID=@Hermes:chiabur.xyz\nMATRIX_ALLOWED_USERS=*\n");
  CAF_CHECK(p.usable());
  CAF_CHECK(about(p, "MATRIX_USER_ID")->level == severity::warning);
  CAF_CHECK(find(p.issues, 5, "MATRIX_ALLOWED_USERS", "'*'") != nullptr);
  CAF_CHECK(p.config.allow_all_users); // "*" means everyone, as in Hermes
  CAF_CHECK(p.config.allowed_users.empty());
  auto plain = load("MATRIX_HOMESERVER=http://matrix.example.org\nMATRIX_ACCESS_TOKEN=t\nMATRIX_ALLOW_ALL_USERS=true\n");
  CAF_CHECK(find(plain.issues, 1, "MATRIX_HOMESERVER", "plain http") != nullptr);
  CAF_CHECK(load("MATRIX_HOMESERVER=http://localhost:8008\nMATRIX_ACCESS_TOKEN=t\nMATRIX_ALLOW_ALL_USERS=true\n").issues.empty());
  auto nobody = load("MATRIX_HOMESERVER=https://m.org\nMATRIX_ACCESS_TOKEN=t\n");
  CAF_CHECK(about(nobody, "MATRIX_ALLOWED_USERS")->level == severity::warning);
}

CAF_TEST(profile name syntax) {
  CAF_CHECK(load("", "default").issues.empty());
  CAF_CHECK_EQUAL(errors(load("", "Bad Name").issues), 1);
}

CAF_TEST(no secret in any problem text) {
  const std::vector<std::string> secrets = {token, "hunter2pass", "EsTcRecoveryKey", "picklePK",
                                            "gwkey-123456"};
  auto p = load("MATRIX_HOMESERVER=nota url\n"
                "MATRIX_ACCESS_TOKEN=" + token + " x\n"
                "MATRIX_ACCESS_TOKEN=\"" + token + " with space\"\n"
                "MATRIX_PASSWORD=hunter2pass\n"
                "MATRIX_RECOVERY_KEY=EsTcRecoveryKey\n"
                "MATRIX_PICKLE_KEY=picklePK\n"
                "GATEWAY_PROXY_KEY=gwkey-123456\n"
                "GATEWAY_PROXY_URL=ftp://u:gwkey-123456@h\n"
                "MATRIX_PROXY=http://u:hunter2pass@exa mple\n"
                + token + "\n"
                "MATRIX_E2EE_MODE=maybe\n");
  CAF_CHECK(!p.issues.empty());
  auto text = all_text(p.issues);
  for (const auto& s : secrets)
    CAF_CHECK(text.find(s) == std::string::npos);
  CAF_CHECK(text.find("syt_") == std::string::npos);
}

CAF_TEST(same token in two profiles) {
  std::vector<loaded_profile> all;
  all.push_back(load(base, "coder"));
  all.push_back(load(base + "MATRIX_DEVICE_ID=X\n", "academic_researcher"));
  all.push_back(load("MATRIX_HOMESERVER=https://m.org\nMATRIX_ACCESS_TOKEN=syt_other\nMATRIX_ALLOW_ALL_USERS=1\n", "locallama"));
  check_across_profiles(all);
  auto* a = about(all[0], "MATRIX_ACCESS_TOKEN");
  auto* b = about(all[1], "MATRIX_ACCESS_TOKEN");
  CAF_REQUIRE(a != nullptr);
  CAF_REQUIRE(b != nullptr);
  CAF_CHECK_EQUAL(a->line, 2);
  CAF_CHECK(a->message.find("'academic_researcher'") != std::string::npos);
  CAF_CHECK(b->message.find("'coder'") != std::string::npos);
  CAF_CHECK(!all[0].usable());
  CAF_CHECK(!all[1].usable());
  CAF_CHECK(all[2].usable());
  CAF_CHECK(all_text(all[0].issues).find(token) == std::string::npos);
  CAF_CHECK(all_text(all[1].issues).find("syt_") == std::string::npos);
}

CAF_TEST(same user and device in two profiles) {
  const std::string a_env = "MATRIX_HOMESERVER=https://m.org\nMATRIX_USER_ID=@bot:m.org\n"
                            "MATRIX_PASSWORD=pw1\nMATRIX_DEVICE_ID=HERMES\nMATRIX_ALLOW_ALL_USERS=1\n";
  std::vector<loaded_profile> all;
  all.push_back(load(a_env, "coder"));
  all.push_back(load(a_env, "on-docker"));
  all.push_back(load("MATRIX_HOMESERVER=https://m.org\nMATRIX_USER_ID=@bot:m.org\nMATRIX_PASSWORD=pw1\n"
                     "MATRIX_DEVICE_ID=OTHER\nMATRIX_ALLOW_ALL_USERS=1\n", "profile-architect"));
  check_across_profiles(all);
  auto* i = about(all[0], "MATRIX_DEVICE_ID");
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK_EQUAL(i->line, 4);
  CAF_CHECK(i->message.find("'on-docker'") != std::string::npos);
  CAF_CHECK(about(all[1], "MATRIX_DEVICE_ID") != nullptr);
  CAF_CHECK(all[2].usable()); // another device of the same account: only a warning
  auto* shared = about(all[2], "MATRIX_USER_ID");
  CAF_REQUIRE(shared != nullptr);
  CAF_CHECK(shared->level == severity::warning);
  CAF_CHECK_EQUAL(shared->line, 2);
}

CAF_TEST(busy input mode) {
  using namespace hm::profiles;
  auto make = [](const std::string& text) {
    return make_profile("p", "/p", parse_dotenv(text, "/p/.env"));
  };
  CAF_CHECK(!make("MATRIX_ACCESS_TOKEN=syt_abcdef\n").config.busy_queue);
  CAF_CHECK(make("HERMES_GATEWAY_BUSY_INPUT_MODE=queue\n").config.busy_queue);
  auto steer = make("HERMES_GATEWAY_BUSY_INPUT_MODE=steer\n");
  CAF_CHECK(!steer.config.busy_queue);
  CAF_REQUIRE(!steer.issues.empty());
  CAF_CHECK_EQUAL(steer.issues.back().key, "HERMES_GATEWAY_BUSY_INPUT_MODE");
  CAF_CHECK_EQUAL(steer.issues.back().line, 1);
}
