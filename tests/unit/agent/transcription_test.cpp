// Speech-to-text requests (OpenAI-compatible multipart) and their answers.
#define CAF_SUITE transcription
#include "caf/test/unit_test.hpp"

#include "agent/transcription.hpp"
#include "tests/unit/agent/render.hpp"

#include <string>
#include <vector>

using namespace hm::agent;

using hm::agent::test::header_names;

CAF_TEST(a transcription request exact bytes) {
  const std::string audio{"OggS\0\x01\r\n--x", 11};
  const auto r = build_transcription_request({.base_url = "https://api.openai.com/",
                                              .api_key = "sk-stt",
                                              .model = "whisper-1",
                                              .audio = audio,
                                              .filename = "voice-message.ogg",
                                              .mimetype = "audio/ogg",
                                              .language = "de",
                                              .prompt = "Hermes, Matrix"},
                                             "BOUNDARY");
  CAF_CHECK_EQUAL(r.method, "POST");
  CAF_CHECK_EQUAL(r.url, "https://api.openai.com/v1/audio/transcriptions");
  CAF_CHECK_EQUAL(header_names(r), "Content-Type;Accept;Authorization;");
  CAF_CHECK_EQUAL(r.header("Content-Type"), "multipart/form-data; boundary=BOUNDARY");
  CAF_CHECK_EQUAL(r.header("Accept"), "application/json");
  CAF_CHECK_EQUAL(r.header("Authorization"), "Bearer sk-stt");
  const std::string expected = "--BOUNDARY\r\n"
                               "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
                               "whisper-1\r\n"
                               "--BOUNDARY\r\n"
                               "Content-Disposition: form-data; name=\"language\"\r\n\r\n"
                               "de\r\n"
                               "--BOUNDARY\r\n"
                               "Content-Disposition: form-data; name=\"prompt\"\r\n\r\n"
                               "Hermes, Matrix\r\n"
                               "--BOUNDARY\r\n"
                               "Content-Disposition: form-data; name=\"response_format\"\r\n\r\n"
                               "json\r\n"
                               "--BOUNDARY\r\n"
                               "Content-Disposition: form-data; name=\"file\"; "
                               "filename=\"voice-message.ogg\"\r\n"
                               "Content-Type: audio/ogg\r\n\r\n"
                               + audio
                               + "\r\n"
                                 "--BOUNDARY--\r\n";
  CAF_CHECK_EQUAL(r.body, expected);
}

CAF_TEST(a local server without key and defaults) {
  const auto r = build_transcription_request({.base_url = "http://127.0.0.1:8000/v1",
                                              .audio = "RIFF"},
                                             "b1");
  CAF_CHECK_EQUAL(r.url, "http://127.0.0.1:8000/v1/audio/transcriptions");
  CAF_CHECK_EQUAL(header_names(r), "Content-Type;Accept;");
  CAF_CHECK_EQUAL(r.body, "--b1\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                          "whisper-1\r\n"
                          "--b1\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\n"
                          "json\r\n"
                          "--b1\r\nContent-Disposition: form-data; name=\"file\"; "
                          "filename=\"audio\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                          "RIFF\r\n--b1--\r\n");
}

CAF_TEST(the file name cannot leave its parameter or name a path) {
  const auto disposition = [](std::string_view name) {
    const auto r = build_transcription_request({.audio = "x", .filename = name}, "B");
    const auto at = r.body.find("name=\"file\"; ");
    return r.body.substr(at, r.body.find("\r\n", at) - at);
  };
  CAF_CHECK_EQUAL(disposition("../../etc/passwd"), R"(name="file"; filename="passwd")");
  CAF_CHECK_EQUAL(disposition("C:\\Users\\me\\voice.m4a"), R"(name="file"; filename="voice.m4a")");
  CAF_CHECK_EQUAL(disposition("a\"; name=\"model\r\nX-Evil: 1\0.ogg"),
                  R"(name="file"; filename="a; name=modelX-Evil: 1")");
  CAF_CHECK_EQUAL(disposition(std::string_view{"a\"; name=\"model\r\nX-Evil: 1\0.ogg", 31}),
                  R"(name="file"; filename="a; name=modelX-Evil: 1.ogg")");
  CAF_CHECK_EQUAL(disposition("dir/"), R"(name="file"; filename="audio")");
  CAF_CHECK_EQUAL(disposition(".."), R"(name="file"; filename="audio")");
  CAF_CHECK_EQUAL(disposition("Sprachnachricht äöü.ogg"),
                  R"(name="file"; filename="Sprachnachricht äöü.ogg")");
}

CAF_TEST(header values cannot inject headers) {
  const auto r = build_transcription_request(
    {.api_key = "k\r\nX-Evil: 1", .audio = "x", .mimetype = "audio/ogg\r\nX-Evil: 2"}, "B");
  CAF_CHECK_EQUAL(r.header("Authorization"), "Bearer kX-Evil: 1");
  CAF_CHECK_NOT_EQUAL(r.body.find("Content-Type: audio/oggX-Evil: 2\r\n\r\n"), std::string::npos);
}

CAF_TEST(the boundary occurs in no part) {
  const std::string audio = "....hermes-matrix-AAAA....";
  std::vector<std::string> offered{"hermes-matrix-AAAA", "", "de", "hermes-matrix-BBBB"};
  std::size_t next = 0;
  const auto b = multipart_boundary({.audio = audio, .language = "de"},
                                    [&] { return offered.at(next++); });
  CAF_CHECK_EQUAL(b, "hermes-matrix-BBBB");
  CAF_CHECK_EQUAL(next, 4u);
  // The random ones: the prefix and 32 hex digits, different each time.
  const auto r1 = multipart_boundary({.audio = audio});
  const auto r2 = multipart_boundary({.audio = audio});
  CAF_CHECK_EQUAL(r1.size(), 14u + 32u);
  CAF_CHECK(r1.starts_with("hermes-matrix-"));
  CAF_CHECK_EQUAL(r1.find_first_not_of("0123456789abcdef", 14), std::string::npos);
  CAF_CHECK_NOT_EQUAL(r1, r2);
  const auto req = build_transcription_request({.audio = audio});
  CAF_CHECK(req.header("Content-Type").starts_with("multipart/form-data; boundary=hermes-matrix-"));
  CAF_CHECK(req.body.ends_with("--\r\n"));
}

CAF_TEST(a transcript is read from the json answer) {
  const auto ok = parse_transcription_response(200, R"({"text":"Hallo Welt","language":"de"})");
  CAF_REQUIRE(ok.has_value());
  CAF_CHECK_EQUAL(*ok, "Hallo Welt");
  const auto silence = parse_transcription_response(200, R"({"text":""})");
  CAF_REQUIRE(silence.has_value());
  CAF_CHECK_EQUAL(*silence, "");
}

CAF_TEST(no transcript is an error) {
  for (const auto* body : {R"({"segments":[]})", R"({"text":42})", "Hallo Welt", "[]", ""}) {
    const auto r = parse_transcription_response(200, body);
    CAF_CHECK(!r.has_value());
    CAF_CHECK_EQUAL(r.error().status, 200);
    CAF_CHECK_EQUAL(r.error().message,
                    "the speech-to-text service answered without a transcript (HTTP 200)");
  }
}

CAF_TEST(errors name the speech to text service and its settings) {
  const auto unauthorized =
    parse_transcription_response(401, R"({"error":{"message":"Incorrect API key sk-stt"}})", "sk-stt");
  CAF_CHECK(!unauthorized.has_value());
  CAF_CHECK_EQUAL(unauthorized.error().message,
                  "the speech-to-text service refused the API key (the stt API key)");
  // Kept before they are compared: CAF_CHECK_EQUAL binds references.
  const auto no_key = parse_transcription_response(401, "");
  CAF_CHECK_EQUAL(no_key.error().message,
                  "the speech-to-text service wants an API key (set the stt API key)");
  const auto no_endpoint = parse_transcription_response(404, "");
  CAF_CHECK_EQUAL(no_endpoint.error().message,
                  "the speech-to-text service has no transcription endpoint there "
                  "(check the stt base URL)");
  const auto busy = parse_transcription_response(
    429, R"({"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}})");
  CAF_CHECK(busy.error().retryable);
  CAF_CHECK_EQUAL(busy.error().code, "rate_limit_exceeded");
  CAF_CHECK_EQUAL(busy.error().message,
                  "the speech-to-text service is busy (HTTP 429), try again shortly: "
                  "Rate limit reached");
  const auto groq = parse_transcription_response(
    400, R"({"error":{"message":"file must be one of flac mp3 ogg","type":"invalid_request_error"}})",
    "gsk", {.service = "Groq speech-to-text", .key_setting = "GROQ_API_KEY"});
  CAF_CHECK_EQUAL(groq.error().message,
                  "Groq speech-to-text answered HTTP 400: file must be one of flac mp3 ogg");
  CAF_CHECK(!groq.error().retryable);
}
