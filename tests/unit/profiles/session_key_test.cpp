// conversation_thread, session_key, reply_to and session_id for each scope, thread and
// DM combination, against the keys Hermes' build_session_key makes.
#define CAF_SUITE session_key
#include "caf/test/unit_test.hpp"

#include "profiles/session_key.hpp"
#include "profiles/sha256.hpp"

#include <string>
#include <vector>

using namespace hm::profiles;

namespace {

const std::string alice = "@alice:example.org";

incoming_message message(std::optional<std::string> thread_root = std::nullopt) {
  incoming_message m;
  m.event_id = "$ev1";
  m.sender = alice;
  m.msgtype = "m.text";
  m.body = "hi";
  m.thread_root = std::move(thread_root);
  return m;
}

profile_config config(session_scope scope, bool auto_thread) {
  profile_config c;
  c.name = "coder";
  c.scope = scope;
  c.auto_thread = auto_thread;
  return c;
}

} // namespace

CAF_TEST(sha256 test vectors) {
  CAF_CHECK_EQUAL(sha256_hex(""),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CAF_CHECK_EQUAL(sha256_hex("abc"),
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CAF_CHECK_EQUAL(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CAF_CHECK_EQUAL(sha256_hex(std::string(1000, 'a')),
                  "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

CAF_TEST(scope table) {
  struct row {
    std::string name;
    session_scope scope;
    bool auto_thread;
    bool is_dm;
    std::optional<std::string> thread_root;
    std::optional<std::string> thread;
    std::string key;
  };
  const std::string g = "agent:coder:matrix:group:!r:example.org";
  const std::string d = "agent:coder:matrix:dm:!r:example.org";
  const std::vector<row> rows{
      // Group room, top-level message.
      {"auto + auto_thread: new thread at the message", session_scope::automatic, true, false,
       std::nullopt, "$ev1", g + ":$ev1"},
      {"auto without auto_thread: per user", session_scope::automatic, false, false, std::nullopt,
       std::nullopt, g + ":" + alice},
      {"room: per user, even with auto_thread", session_scope::room, true, false, std::nullopt,
       std::nullopt, g + ":" + alice},
      {"thread: new thread even without auto_thread", session_scope::thread, false, false,
       std::nullopt, "$ev1", g + ":$ev1"},
      // Group room, message in a thread: the thread, shared by everyone in it.
      {"auto, in a thread", session_scope::automatic, true, false, "$root", "$root", g + ":$root"},
      {"room, in a thread", session_scope::room, true, false, "$root", "$root", g + ":$root"},
      {"thread, in a thread", session_scope::thread, false, false, "$root", "$root", g + ":$root"},
      // DM: never a new thread; a thread the user opened is kept.
      {"DM auto", session_scope::automatic, true, true, std::nullopt, std::nullopt, d},
      {"DM thread scope", session_scope::thread, true, true, std::nullopt, std::nullopt, d},
      {"DM room scope", session_scope::room, false, true, std::nullopt, std::nullopt, d},
      {"DM in a thread", session_scope::automatic, true, true, "$root", "$root", d + ":$root"},
  };
  for (const auto& r : rows) {
    CAF_MESSAGE("row: " << r.name);
    auto c = config(r.scope, r.auto_thread);
    room_facts room{"!r:example.org", r.is_dm, false};
    auto msg = message(r.thread_root);
    auto thread = conversation_thread(c, room, msg);
    CAF_CHECK(thread == r.thread);
    CAF_CHECK_EQUAL(session_key(c.name, room, msg, thread), r.key);
    // The reply answers the message, in the conversation's thread.
    auto target = reply_to(msg, thread);
    CAF_CHECK_EQUAL(target.in_reply_to, "$ev1");
    CAF_CHECK(target.thread_root == r.thread);
  }
}

CAF_TEST(follow-ups in an auto thread share the session) {
  auto c = config(session_scope::automatic, true);
  room_facts room{"!r:example.org", false, true};
  auto first = message();
  auto first_key = session_key("coder", room, first, conversation_thread(c, room, first));
  auto follow = message("$ev1");
  follow.event_id = "$ev2";
  follow.sender = "@bob:example.org"; // another user in the same thread
  auto follow_thread = conversation_thread(c, room, follow);
  CAF_CHECK_EQUAL(session_key("coder", room, follow, follow_thread), first_key);
  CAF_CHECK(reply_to(follow, follow_thread) == (reply_target{std::string("$ev1"), "$ev2"}));
}

CAF_TEST(room scope separates users) {
  auto c = config(session_scope::room, true);
  room_facts room{"!r:example.org", false, false};
  auto a = message();
  auto b = message();
  b.sender = "@bob:example.org";
  CAF_CHECK_NOT_EQUAL(session_key("coder", room, a, conversation_thread(c, room, a)),
                      session_key("coder", room, b, conversation_thread(c, room, b)));
}

CAF_TEST(namespaces) {
  room_facts room{"!r:example.org", true, false};
  auto m = message();
  CAF_CHECK_EQUAL(session_key("default", room, m, std::nullopt), "agent:main:matrix:dm:!r:example.org");
  CAF_CHECK_EQUAL(session_key("", room, m, std::nullopt), "agent:main:matrix:dm:!r:example.org");
  CAF_CHECK_EQUAL(session_key("main", room, m, std::nullopt), "agent:main~:matrix:dm:!r:example.org");
  CAF_CHECK_EQUAL(session_key("coder", room, m, std::nullopt), "agent:coder:matrix:dm:!r:example.org");
}

CAF_TEST(session ids) {
  std::string key = "agent:coder:matrix:group:!r:example.org:$ev1";
  auto id = session_id("coder", key);
  CAF_CHECK_EQUAL(id, "coder-" + sha256_hex(key).substr(0, 32));
  CAF_CHECK_EQUAL(id.size(), 6u + 32u);
  CAF_CHECK_EQUAL(session_id("coder", key), id); // stable
  CAF_CHECK_NOT_EQUAL(session_id("coder", key + "x"), id);
  CAF_CHECK_NOT_EQUAL(session_id("writer", key), id);
  CAF_CHECK_EQUAL(session_id("", key).rfind("default-", 0), 0u);
  // Header and URL safe, and nothing Hermes refuses in a session id.
  for (char ch : id)
    CAF_CHECK((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
  CAF_CHECK(id.find("..") == std::string::npos);
}
