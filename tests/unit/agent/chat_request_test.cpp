#define CAF_SUITE chat_request
#include "caf/test/unit_test.hpp"

#include "agent/chat_request.hpp"
#include "tests/unit/agent/render.hpp"

#include <nlohmann/json.hpp>

using namespace hm::agent;

using hm::agent::test::header_names;

CAF_TEST(url) {
  CAF_CHECK_EQUAL(chat_completions_url("http://127.0.0.1:8642"),
                  "http://127.0.0.1:8642/v1/chat/completions");
  CAF_CHECK_EQUAL(chat_completions_url("http://127.0.0.1:8642///"),
                  "http://127.0.0.1:8642/v1/chat/completions");
  CAF_CHECK_EQUAL(chat_completions_url("http://h:8642/p/coder/"),
                  "http://h:8642/p/coder/v1/chat/completions");
  CAF_CHECK_EQUAL(chat_completions_url("https://api.example/v1/"),
                  "https://api.example/v1/chat/completions");
}

CAF_TEST(request with key exact headers and body) {
  const std::vector<chat_message> msgs{{"system", "ctx"}, {"user", "héllo \"you\"\n"}};
  const auto r = build_chat_request({.base_url = "http://127.0.0.1:8642/",
                                     .api_key = "sk-test",
                                     .session_id = "matrix:coder:!room:hs",
                                     .model = "coder",
                                     .messages = msgs});
  CAF_CHECK_EQUAL(r.method, "POST");
  CAF_CHECK_EQUAL(r.url, "http://127.0.0.1:8642/v1/chat/completions");
  CAF_CHECK_EQUAL(header_names(r),
                  "Content-Type;Accept;Authorization;X-Hermes-Session-Id;");
  CAF_CHECK_EQUAL(r.header("content-type"), "application/json");
  CAF_CHECK_EQUAL(r.header("Accept"), "text/event-stream");
  CAF_CHECK_EQUAL(r.header("Authorization"), "Bearer sk-test");
  CAF_CHECK_EQUAL(r.header("X-Hermes-Session-Id"), "matrix:coder:!room:hs");
  CAF_CHECK_EQUAL(r.body, R"({"messages":[{"content":"ctx","role":"system"},)"
                          R"({"content":"héllo \"you\"\n","role":"user"}],)"
                          R"("model":"coder","stream":true})");
}

CAF_TEST(no Authorization header without a key) {
  const auto r = build_chat_request({.base_url = "http://h", .model = "m"});
  CAF_CHECK_EQUAL(header_names(r), "Content-Type;Accept;");
  CAF_CHECK_EQUAL(r.header("Authorization"), "");
  CAF_CHECK_EQUAL(r.body, R"({"messages":[],"model":"m","stream":true})");
}

CAF_TEST(header values cannot inject headers) {
  const auto r = build_chat_request(
    {.base_url = "http://h", .api_key = "k\r\nX-Evil: 1", .session_id = "s\nX: y"});
  CAF_CHECK_EQUAL(r.header("Authorization"), "Bearer kX-Evil: 1");
  CAF_CHECK_EQUAL(r.header("X-Hermes-Session-Id"), "sX: y");
}

CAF_TEST(invalid UTF-8 content is replaced not fatal) {
  const std::vector<chat_message> msgs{{"user", "a\xff" "b"}};
  const auto r = build_chat_request({.base_url = "http://h", .model = "m", .messages = msgs});
  const auto j = nlohmann::json::parse(r.body);
  CAF_CHECK_EQUAL(j["messages"][0]["content"].get<std::string>(), "a\xEF\xBF\xBD" "b");
}

CAF_TEST(session messages: context and this message only) {
  const auto m = build_session_messages({"coder", "!r:hs", "@alice:hs"}, "hi");
  CAF_REQUIRE_EQUAL(m.size(), 2u);
  CAF_CHECK_EQUAL(m[0].role, "system");
  CAF_CHECK_EQUAL(m[0].content,
                  "You are the Hermes profile \"coder\", talking on Matrix in room !r:hs with @alice:hs.");
  CAF_CHECK_EQUAL(m[1].role, "user");
  CAF_CHECK_EQUAL(m[1].content, "hi");
}

CAF_TEST(plain messages: soul then context then history then this message) {
  const std::vector<chat_message> history{{"user", "q1"}, {"assistant", "a1"}};
  const auto m = build_plain_messages("I am terse.\n\n", {"coder", "!r:hs", "@a:hs"}, history, "q2");
  CAF_REQUIRE_EQUAL(m.size(), 4u);
  CAF_CHECK_EQUAL(m[0].content,
                  "I am terse.\n\nYou are the Hermes profile \"coder\", talking on Matrix in room "
                  "!r:hs with @a:hs.");
  CAF_CHECK(m[1] == history[0]);
  CAF_CHECK(m[2] == history[1]);
  CAF_CHECK(m[3] == (chat_message{"user", "q2"}));
  // Without a SOUL.md the system message is the context line alone.
  const auto bare = build_plain_messages("", {"p", "r", "s"}, {}, "x");
  CAF_CHECK_EQUAL(bare[0].content, "You are the Hermes profile \"p\", talking on Matrix in room r with s.");
}

CAF_TEST(history is bounded by count and characters oldest first) {
  std::vector<chat_message> history;
  for (int i = 0; i < 10; ++i)
    history.push_back({i % 2 == 0 ? "user" : "assistant", "m" + std::to_string(i)});
  const conversation_context ctx{"p", "r", "s"};

  auto m = build_plain_messages("", ctx, history, "now", {.max_messages = 3, .max_chars = 1000});
  CAF_REQUIRE_EQUAL(m.size(), 5u);
  CAF_CHECK_EQUAL(m[1].content, "m7");
  CAF_CHECK_EQUAL(m[3].content, "m9");

  // 2 characters each: 5 characters allow the newest two.
  m = build_plain_messages("", ctx, history, "now", {.max_messages = 100, .max_chars = 5});
  CAF_REQUIRE_EQUAL(m.size(), 4u);
  CAF_CHECK_EQUAL(m[1].content, "m8");

  // Characters, not bytes: "ü" is one character.
  const std::vector<chat_message> umlauts{{"user", "üüü"}, {"assistant", "üü"}};
  m = build_plain_messages("", ctx, umlauts, "now", {.max_messages = 10, .max_chars = 5});
  CAF_CHECK_EQUAL(m.size(), 4u);
  m = build_plain_messages("", ctx, umlauts, "now", {.max_messages = 10, .max_chars = 4});
  CAF_REQUIRE_EQUAL(m.size(), 3u);
  CAF_CHECK_EQUAL(m[1].content, "üü");

  // A newest message over the budget drops everything (no gaps in the history).
  const std::vector<chat_message> huge{{"user", "a"}, {"assistant", std::string(50, 'x')}};
  m = build_plain_messages("", ctx, huge, "now", {.max_messages = 10, .max_chars = 10});
  CAF_CHECK_EQUAL(m.size(), 2u);

  m = build_plain_messages("", ctx, history, "now", {.max_messages = 0, .max_chars = 1000});
  CAF_CHECK_EQUAL(m.size(), 2u);
}

CAF_TEST(count_chars) {
  CAF_CHECK_EQUAL(count_chars(""), 0u);
  CAF_CHECK_EQUAL(count_chars("abc"), 3u);
  CAF_CHECK_EQUAL(count_chars("Köln 🌧"), 6u);
}

CAF_TEST(content with images is a list of parts text first) {
  const std::vector<std::string> images{"data:image/png;base64,iVBO", "data:image/jpeg;base64,/9j/"};
  CAF_CHECK_EQUAL(message_content("what is this?", images).dump(),
                  R"([{"text":"what is this?","type":"text"},)"
                  R"({"image_url":{"url":"data:image/png;base64,iVBO"},"type":"image_url"},)"
                  R"({"image_url":{"url":"data:image/jpeg;base64,/9j/"},"type":"image_url"}])");
  // No caption: no empty text part (some models refuse one).
  CAF_CHECK_EQUAL(message_content("", {images.data(), 1}).dump(),
                  R"([{"image_url":{"url":"data:image/png;base64,iVBO"},"type":"image_url"}])");
  // No images: the plain string, as before.
  CAF_CHECK_EQUAL(message_content("hi", {}).dump(), R"("hi")");
  CAF_CHECK_EQUAL(message_content("", {}).dump(), R"("")");
}

CAF_TEST(a request with an image sends the parts exact body) {
  const std::vector<chat_message> msgs{
    {"system", "ctx"}, {"user", "look", {"data:image/png;base64,AAAA"}}};
  const auto r = build_chat_request({.base_url = "http://h", .model = "coder", .messages = msgs});
  CAF_CHECK_EQUAL(r.body, R"({"messages":[{"content":"ctx","role":"system"},)"
                          R"({"content":[{"text":"look","type":"text"},)"
                          R"({"image_url":{"url":"data:image/png;base64,AAAA"},"type":"image_url"}],)"
                          R"("role":"user"}],"model":"coder","stream":true})");
}

CAF_TEST(session messages carry this message images) {
  const std::vector<std::string> images{"data:image/png;base64,AAAA"};
  const auto m = build_session_messages({"coder", "!r:hs", "@alice:hs"}, "caption", images);
  CAF_REQUIRE_EQUAL(m.size(), 2u);
  CAF_CHECK(m[0].image_urls.empty());
  CAF_CHECK(m[1] == (chat_message{"user", "caption", images}));
  const auto text_only = build_session_messages({"coder", "!r:hs", "@alice:hs"}, "hi");
  CAF_CHECK(text_only[1].image_urls.empty());
}

CAF_TEST(plain messages send images of this message only and history as text) {
  const std::string big_image = "data:image/png;base64," + std::string(10'000, 'A');
  const std::vector<chat_message> history{{"user", "q1", {big_image}}, {"assistant", "a1"}};
  const std::vector<std::string> now{"data:image/jpeg;base64,/9j/"};
  // The history image counts nothing toward max_chars: "q1" and "a1" fit in 4.
  const auto m = build_plain_messages("", {"p", "r", "s"}, history, "", {.max_chars = 4}, now);
  CAF_REQUIRE_EQUAL(m.size(), 4u);
  CAF_CHECK(m[1] == (chat_message{"user", "q1"}));
  CAF_CHECK(m[2] == (chat_message{"assistant", "a1"}));
  CAF_CHECK(m[3] == (chat_message{"user", "", now}));
  const auto r = build_chat_request({.base_url = "http://h", .model = "m", .messages = m});
  CAF_CHECK_EQUAL(r.body.find("AAAAAAAA"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(r.body.find(R"({"content":[{"image_url":{"url":"data:image/jpeg;base64,/9j/"},"type":"image_url"}],"role":"user"})"),
                      std::string::npos);
}
