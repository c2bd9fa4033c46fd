#define CAF_SUITE chat_stream
#include "caf/test/unit_test.hpp"

#include "tests/unit/agent/render.hpp"

#include <fstream>

using namespace hm::agent;
using hm::agent::test::decode;
using hm::agent::test::render;

namespace {

std::string read_fixture(const char* name) {
  std::ifstream in{std::string{HM_TEST_FIXTURES_DIR} + "/agent/" + name,
                   std::ios::binary | std::ios::ate};
  std::string s(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

std::string chunk_with(std::string_view choice_json, std::string_view extra = {}) {
  std::string s = R"(data: {"id":"c","object":"chat.completion.chunk","choices":[)";
  s += choice_json;
  s += "]";
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  s += "}\n\n";
  return s;
}

// What tests/fixtures/agent/hermes_stream.sse (a Hermes-shaped reply) must give.
constexpr std::string_view recorded_items = "tool web_search 🔍 [Searching the web] running\n"
                                            "keepalive\n"
                                            "tool web_search 🔍 [Searching the web] completed\n"
                                            "text [Grüße]\n"
                                            "text [ aus Köln 🌧,]\n"
                                            "text [\nzweite Zeile.]\n"
                                            "finish stop usage=12/5/17 hermes=C--\n"
                                            "done\n";

} // namespace

CAF_TEST(a recorded stream decodes to the expected items) {
  const auto stream = read_fixture("hermes_stream.sse");
  CAF_REQUIRE(!stream.empty());
  CAF_CHECK_EQUAL(render(decode(stream)), recorded_items);
}

CAF_TEST(every split position of the recorded stream gives the same items) {
  const auto stream = read_fixture("hermes_stream.sse");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut)
    CAF_CHECK_EQUAL(render(decode(stream, {cut})), recorded_items);
  // Byte by byte, too.
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < stream.size(); ++i)
    cuts.push_back(i);
  CAF_CHECK_EQUAL(render(decode(stream, cuts)), recorded_items);
}

CAF_TEST(the recorded stream with CRLF line ends gives the same items) {
  auto stream = read_fixture("hermes_stream.sse");
  std::string crlf;
  for (const char c : stream) {
    if (c == '\n')
      crlf += '\r';
    crlf += c;
  }
  for (std::size_t cut = 0; cut <= crlf.size(); cut += 7)
    CAF_CHECK_EQUAL(render(decode(crlf, {cut})), recorded_items);
}

CAF_TEST(done) {
  CAF_CHECK_EQUAL(render(decode("data: [DONE]\n\ndata:[DONE]\n\n")), "done\ndone\n");
}

CAF_TEST(finish reasons usage hermes and error) {
  CAF_CHECK_EQUAL(render(decode(chunk_with(R"({"index":0,"delta":{},"finish_reason":"length"})"))),
                  "finish length\n");
  CAF_CHECK_EQUAL(
    render(decode(chunk_with(
      R"({"index":0,"delta":{"content":"half"},"finish_reason":"error"})",
      R"("error":{"message":"model overloaded","code":"overloaded"},)"
      R"("hermes":{"completed":false,"partial":true,"failed":true,"error":"model overloaded","error_code":"provider_error"})"))),
    "text [half]\nfinish error error=[model overloaded] hermes=-PF[model overloaded|provider_error]\n");
  CAF_CHECK_EQUAL(
    render(decode(chunk_with(R"({"index":0,"delta":{},"finish_reason":"content_filter"})",
                             R"("usage":{"prompt_tokens":3})"))),
    "finish other(content_filter) usage=3/0/0\n");
  // A bare error chunk without choices (some OpenAI-compatible servers do this).
  CAF_CHECK_EQUAL(render(decode("data: {\"error\":{\"message\":\"boom\"}}\n\n")),
                  "finish error error=[boom]\n");
  CAF_CHECK_EQUAL(render(decode("data: {\"error\":\"plain\"}\n\n")),
                  "finish error error=[plain]\n");
}

CAF_TEST(role chunks empty deltas and usage-only chunks give nothing) {
  CAF_CHECK_EQUAL(render(decode(chunk_with(R"({"index":0,"delta":{"role":"assistant"}})")
                                + chunk_with(R"({"index":0,"delta":{"content":""}})")
                                + chunk_with(R"({"index":0,"delta":{"content":null}})")
                                + "data: {\"choices\":[],\"usage\":{\"total_tokens\":1}}\n\n")),
                  "");
}

CAF_TEST(unknown named events are skipped) {
  CAF_CHECK_EQUAL(render(decode("event: hermes.status\ndata: {\"x\":1}\n\n"
                                "event: hermes.tool.completed\ndata: nope\n\ndata: [DONE]\n\n")),
                  "done\n");
}

CAF_TEST(tool progress accepts name for tool and missing fields) {
  CAF_CHECK_EQUAL(render(decode("event: hermes.tool.progress\n"
                                "data: {\"name\":\"terminal\",\"status\":\"running\"}\n\n")),
                  "tool terminal  [] running\n");
}

CAF_TEST(malformed data is reported and the stream goes on) {
  const auto got = render(decode("data: {not json\n\n"
                                 "data: [1,2]\n\n"
                                 "data: {\"choices\":{}}\n\n"
                                 "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n"
                                 "data: {\"choices\":[{\"delta\":[]}]}\n\n"
                                 "data: {\"choices\":[{\"finish_reason\":1}]}\n\n"
                                 "data: {\"object\":\"x\"}\n\n"
                                 "event: hermes.tool.progress\ndata: \"str\"\n\n"
                                 "data: \xff\xfe\n\n" // not UTF-8
                                 "data: \"\xc3\"\n\n" // a JSON string with a cut UTF-8 sequence
                                 + chunk_with(R"({"delta":{"content":"still here"}})")));
  CAF_CHECK_EQUAL(got, "malformed: data is not JSON: {not json\n"
                       "malformed: chunk is not a JSON object: [1,2]\n"
                       "malformed: choices is not an array of objects\n"
                       "malformed: delta.content is not a string\n"
                       "malformed: delta is not an object\n"
                       "malformed: finish_reason is not a string\n"
                       "malformed: chunk without choices: {\"object\":\"x\"}\n"
                       "malformed: tool progress is not a JSON object: \"str\"\n"
                       "malformed: data is not JSON: ??\n"
                       "malformed: data is not JSON: \"?\"\n"
                       "text [still here]\n");
}

CAF_TEST(an oversized event is malformed and skipped) {
  chat_stream_decoder d{256};
  std::vector<stream_item> out;
  d.feed("data: {\"choices\":[{\"delta\":{\"content\":\"" + std::string(1000, 'z')
           + "\"}}]}\n\n",
         out);
  d.feed(chunk_with(R"({"delta":{"content":"ok"}})"), out);
  CAF_CHECK_EQUAL(render(out), "malformed: event of 1044+ bytes skipped (over the limit)\n"
                               "text [ok]\n");
}

CAF_TEST(a truncated stream is visible) {
  chat_stream_decoder d;
  CAF_CHECK(d.feed("data: {\"choices\":").empty());
  CAF_CHECK(d.mid_event());
}
