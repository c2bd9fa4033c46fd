// MEDIA: directives in the agent's reply: Hermes' own cases (tests/gateway/
// test_platform_base.py TestExtractMedia and TestMediaInsideSerializedJson,
// test_run_tool_media_re.py), examples that must not send a file, and the text a
// streaming reply may show.
#define CAF_SUITE media_directives
#include "caf/test/unit_test.hpp"

#include "agent/media_directives.hpp"

#include <string>
#include <vector>

using namespace hm::agent;

namespace {

std::vector<std::string> paths(const media_directives& found) {
  std::vector<std::string> out;
  for (auto& f : found.files)
    out.push_back(f.path);
  return out;
}

using list = std::vector<std::string>;

/// extract_media finds `files` in `text` and shows `visible`.
void check_extract(const std::string& text, const list& files, const std::string& visible) {
  auto found = extract_media(text);
  CAF_CHECK_EQUAL(paths(found), files);
  CAF_CHECK_EQUAL(found.visible_text, visible);
}

} // namespace

CAF_TEST(text without directives is left as it is) {
  auto found = extract_media("Just text.\n\n  indented\n");
  CAF_CHECK(found.files.empty());
  CAF_CHECK_EQUAL(found.visible_text, "Just text.\n\n  indented\n");
  CAF_CHECK(!found.as_voice);
  CAF_CHECK(!found.as_document);
}

CAF_TEST(a directive line is removed and its path kept) {
  auto found = extract_media("MEDIA:/path/to/audio.ogg");
  CAF_CHECK_EQUAL(paths(found), list{"/path/to/audio.ogg"});
  CAF_CHECK_EQUAL(found.visible_text, "");
  CAF_CHECK(!found.as_voice);
  found = extract_media("Here is your audio:\nMEDIA:/output.ogg");
  CAF_CHECK_EQUAL(paths(found), list{"/output.ogg"});
  CAF_CHECK_EQUAL(found.visible_text, "Here is your audio:");
}

CAF_TEST(the voice tag makes audio a voice message and is removed) {
  auto found = extract_media("[[audio_as_voice]]\nMEDIA:/path/to/voice.ogg");
  CAF_CHECK_EQUAL(paths(found), list{"/path/to/voice.ogg"});
  CAF_CHECK(found.as_voice);
  CAF_CHECK_EQUAL(found.visible_text, "");
  found = extract_media("[[audio_as_voice]]\nSome text\nMEDIA:/voice.ogg");
  CAF_CHECK(found.as_voice);
  CAF_CHECK_EQUAL(found.visible_text, "Some text");
}

CAF_TEST(the document tag is removed and reported apart from the voice tag) {
  auto found = extract_media("Here is your infographic:\n[[as_document]]\nMEDIA:/tmp/x.jpg");
  CAF_CHECK_EQUAL(paths(found), list{"/tmp/x.jpg"});
  CAF_CHECK(found.as_document);
  CAF_CHECK(!found.as_voice);
  CAF_CHECK_EQUAL(found.visible_text, "Here is your infographic:");
  found = extract_media("See [[as_document]] MEDIA:/d/report.pdf now");
  CAF_CHECK_EQUAL(paths(found), list{"/d/report.pdf"});
  CAF_CHECK_EQUAL(found.visible_text, "See now");
}

CAF_TEST(several files come in order and each once) {
  auto found = extract_media("MEDIA:/a.ogg\nMEDIA:/b.ogg\nagain MEDIA:/a.ogg");
  CAF_CHECK_EQUAL(paths(found), (list{"/a.ogg", "/b.ogg"}));
  CAF_CHECK_EQUAL(found.visible_text, "again");
  found = extract_media("Some text MEDIA:C:\\path\\img.png and more MEDIA:/tmp/out.pdf trailing");
  CAF_CHECK_EQUAL(paths(found), (list{"C:\\path\\img.png", "/tmp/out.pdf"}));
  CAF_CHECK_EQUAL(found.visible_text, "Some text and more trailing");
}

CAF_TEST(no gap is left where a directive stood) {
  auto found = extract_media("Before\n\nMEDIA:/audio.ogg\n\n\n\nAfter");
  CAF_CHECK_EQUAL(found.visible_text, "Before\n\nAfter");
  found = extract_media("\n[[audio_as_voice]]\n\nMEDIA:/v.ogg\n\nSaid it.\n\n");
  CAF_CHECK_EQUAL(found.visible_text, "Said it.");
  found = extract_media("Your chart: MEDIA:/tmp/chart.png.");
  CAF_CHECK_EQUAL(paths(found), list{"/tmp/chart.png"});
  CAF_CHECK_EQUAL(found.visible_text, "Your chart:");
}

CAF_TEST(spaces after the colon and quotes around the path are accepted) {
  check_extract("MEDIA: /path/to/audio.ogg", {"/path/to/audio.ogg"}, "");
  check_extract(
    "MEDIA: `/path/to/file.png`\nMEDIA:\"/path/to/file2.png\"\nMEDIA:'/path/to/file3.png'",
    {"/path/to/file.png", "/path/to/file2.png", "/path/to/file3.png"}, "");
  check_extract("Here\nMEDIA: '/tmp/my image.png'\nAfter", {"/tmp/my image.png"}, "Here\nAfter");
  check_extract("MEDIA:\"/path/with space/file.png\"", {"/path/with space/file.png"}, "");
}

CAF_TEST(an unquoted path may hold spaces up to its extension) {
  check_extract("MEDIA:/tmp/Jane Doe/speech.flac", {"/tmp/Jane Doe/speech.flac"}, "");
  check_extract("MEDIA:/tmp/a.png and the notes.md too", {"/tmp/a.png"}, "and the notes.md too");
  check_extract("MEDIA:/tmp/backup.tar.gz", {"/tmp/backup.tar.gz"}, "");
}

CAF_TEST(quotes backticks and emphasis around a directive go with it) {
  auto found = extract_media("**MEDIA:/tmp/x.png**\n_MEDIA:/tmp/y.pdf_\n\"MEDIA:/tmp/z.mp4\"");
  CAF_CHECK_EQUAL(paths(found), (list{"/tmp/x.png", "/tmp/y.pdf", "/tmp/z.mp4"}));
  CAF_CHECK_EQUAL(found.visible_text, "");
  found = extract_media("(MEDIA:/tmp/x.png)");
  CAF_CHECK_EQUAL(paths(found), list{"/tmp/x.png"});
}

CAF_TEST(windows paths are found as written) {
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:C:\\Users\\kotsu\\file.pdf")),
                  list{"C:\\Users\\kotsu\\file.pdf"});
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:C:/Users/kotsu/file.pdf")),
                  list{"C:/Users/kotsu/file.pdf"});
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:D:\\report.md")), list{"D:\\report.md"});
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:C:\\Users/test\\image.webp")),
                  list{"C:\\Users/test\\image.webp"});
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:c:\\path\\file.JPG")), list{"c:\\path\\file.JPG"});
}

CAF_TEST(home paths are kept for the caller to expand) {
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:~/docs/notes.md")), list{"~/docs/notes.md"});
  CAF_CHECK_EQUAL(paths(extract_media("MEDIA:~/Downloads/image.jpg")),
                  list{"~/Downloads/image.jpg"});
}

CAF_TEST(keyword and extension are matched in any case) {
  CAF_CHECK_EQUAL(paths(extract_media("media:/tmp/A.PNG")), list{"/tmp/A.PNG"});
  CAF_CHECK_EQUAL(paths(extract_media("Media:/tmp/clip.Mp4")), list{"/tmp/clip.Mp4"});
}

CAF_TEST(what is no directive stays in the text) {
  for (std::string text : {"No MEDIA tag here", "MEDIA:relative/path/file.png",
                           "MEDIA:Users\\kotsu\\file.pdf", "MEDIA:file.png", "MEDIA:C:file.png",
                           "MEDIA:/path/to/file.unknown", "MEDIA:/path/to/file", "MEDIA:",
                           "MEDIA:/ spaced.png", "multimedia:/tmp/x.png",
                           "Saved to MEDIA:/tmp/data.weirdext done"}) {
    auto found = extract_media(text);
    CAF_CHECK(found.files.empty());
    CAF_CHECK_EQUAL(found.visible_text, text);
  }
}

CAF_TEST(examples in code blocks inline code and quotes are not sent) {
  auto found = extract_media("Here is an example:\n```text\nMEDIA:/path/to/example.png\n```\nDone.");
  CAF_CHECK(found.files.empty());
  CAF_CHECK_EQUAL(found.visible_text,
                  "Here is an example:\n```text\nMEDIA:/path/to/example.png\n```\nDone.");
  found = extract_media("Use `MEDIA:/path/to/file.png` in your response.");
  CAF_CHECK(found.files.empty());
  CAF_CHECK_EQUAL(found.visible_text, "Use `MEDIA:/path/to/file.png` in your response.");
  found = extract_media("> To send an image, include MEDIA:/path/to/image.jpg\nEnd.");
  CAF_CHECK(found.files.empty());
  found = extract_media("~~~\n[[audio_as_voice]]\nMEDIA:/x.ogg\n~~~");
  CAF_CHECK(found.files.empty());
  CAF_CHECK(!found.as_voice);
}

CAF_TEST(a real directive is sent and the example beside it kept verbatim) {
  auto found = extract_media("MEDIA:/real/file.png\n```code\nMEDIA:/fake/file.png\n```");
  CAF_CHECK_EQUAL(paths(found), list{"/real/file.png"});
  found = extract_media("Here is your file:\nMEDIA:/output/report.pdf\nExample usage:\n"
                        "```text\nMEDIA:/example/path.pdf\n\n\n```\nDone.");
  CAF_CHECK_EQUAL(paths(found), list{"/output/report.pdf"});
  CAF_CHECK_EQUAL(found.visible_text, "Here is your file:\nExample usage:\n"
                                      "```text\nMEDIA:/example/path.pdf\n\n\n```\nDone.");
  found = extract_media("See MEDIA:/r/a.png and `MEDIA:/ex/b.png` inline");
  CAF_CHECK_EQUAL(paths(found), list{"/r/a.png"});
  CAF_CHECK_EQUAL(found.visible_text, "See and `MEDIA:/ex/b.png` inline");
  found = extract_media("Longer spans: ``a `MEDIA:/ex/c.png` b`` and MEDIA:/r/d.png");
  CAF_CHECK_EQUAL(paths(found), list{"/r/d.png"});
}

CAF_TEST(a directive inside a JSON string value is stored data not a request) {
  for (std::string text : {"{\"result\": \"MEDIA:/tmp/stale.png\"}",
                           "{\n  \"tool_result\": \"MEDIA:/var/old.jpg\"\n}",
                           "[\"MEDIA:/a/b.png\", \"other\"]", "[\"other\", \"MEDIA:/a/b.png\"]",
                           "{\"a\":{\"b\":\"see MEDIA:/x/y.pdf here\"}}",
                           "{\"content\":\"previous reply MEDIA:/Users/ex/.hermes/media/"
                           "generated/stale.png and more text\"}"}) {
    auto found = extract_media(text);
    CAF_CHECK(found.files.empty());
    CAF_CHECK_EQUAL(found.visible_text, text);
  }
  auto found = extract_media("MEDIA:/real/r.png\nlog: {\"old\":\"MEDIA:/stale/s.png\"}");
  CAF_CHECK_EQUAL(paths(found), list{"/real/r.png"});
  CAF_CHECK_EQUAL(found.visible_text, "log: {\"old\":\"MEDIA:/stale/s.png\"}");
}

CAF_TEST(directives in prose at a line start or indented are still found) {
  CAF_CHECK_EQUAL(paths(extract_media("Here is your file: MEDIA:/out/report.pdf")),
                  list{"/out/report.pdf"});
  CAF_CHECK_EQUAL(paths(extract_media("  MEDIA:/tmp/x.png")), list{"/tmp/x.png"});
  CAF_CHECK_EQUAL(paths(extract_media("He said: \"MEDIA:/tmp/q.png\"")), list{"/tmp/q.png"});
}

CAF_TEST(unicode around a directive is kept whole) {
  auto found = extract_media("这是报告：MEDIA:/tmp/报告.pdf。谢谢 🎉\nVoilà 🎧MEDIA:/tmp/chanson.mp3🎶");
  CAF_CHECK_EQUAL(paths(found), (list{"/tmp/报告.pdf", "/tmp/chanson.mp3"}));
  CAF_CHECK_EQUAL(found.visible_text, "这是报告：。谢谢 🎉\nVoilà 🎧🎶");
  found = extract_media("Grüße — MEDIA:/home/zoë/Bilder/straße.png");
  CAF_CHECK_EQUAL(paths(found), list{"/home/zoë/Bilder/straße.png"});
  CAF_CHECK_EQUAL(found.visible_text, "Grüße —");
}

CAF_TEST(hostile text gives no directive and keeps its size) {
  std::string many;
  for (int i = 0; i < 20000; ++i)
    many += "MEDIA:/";
  auto found = extract_media(many);
  CAF_CHECK(found.files.empty());
  CAF_CHECK_EQUAL(found.visible_text.size(), many.size());
  std::string long_path = "MEDIA:/" + std::string(5000, 'a') + ".png";
  CAF_CHECK(extract_media(long_path).files.empty());
  std::string quotes;
  for (int i = 0; i < 20000; ++i)
    quotes += "MEDIA:\"/x ";
  CAF_CHECK(extract_media(quotes).files.empty());
  std::string ticks(30000, '`');
  CAF_CHECK_EQUAL(paths(extract_media("x " + ticks + " MEDIA:/t.png")), list{"/t.png"});
}

CAF_TEST(a streaming reply hides a directive that is not finished yet) {
  CAF_CHECK_EQUAL(hide_partial_media("Here it is:\nMEDIA:/tmp/rep"), "Here it is:");
  CAF_CHECK_EQUAL(hide_partial_media("Here it is: MEDIA:/tmp/report.p"), "Here it is:");
  CAF_CHECK_EQUAL(hide_partial_media("Look: MEDIA: '/tmp/my fi"), "Look:");
  CAF_CHECK_EQUAL(hide_partial_media("Look: **MEDIA:/tmp/Jane Doe/spe"), "Look:");
  CAF_CHECK_EQUAL(hide_partial_media("Here it is: MEDI"), "Here it is:");
  CAF_CHECK_EQUAL(hide_partial_media("Here it is:\nmedia"), "Here it is:");
  CAF_CHECK_EQUAL(hide_partial_media("Done.\n[[audio_as"), "Done.");
  CAF_CHECK_EQUAL(hide_partial_media("Done.[[as_doc"), "Done.");
}

CAF_TEST(a streaming reply shows complete directives removed) {
  CAF_CHECK_EQUAL(hide_partial_media("Here it is:\nMEDIA:/tmp/report.pdf\nMore te"),
                  "Here it is:\nMore te");
  CAF_CHECK_EQUAL(hide_partial_media("[[audio_as_voice]]\nMEDIA:/tmp/v.ogg"), "");
  CAF_CHECK_EQUAL(hide_partial_media("A MEDIA:/tmp/a.png and MEDIA:/tmp/b"), "A and");
}

CAF_TEST(a streaming reply without directives is shown as it is) {
  CAF_CHECK_EQUAL(hide_partial_media("Just some text\nthat grows"), "Just some text\nthat grows");
  CAF_CHECK_EQUAL(hide_partial_media("Use `MEDIA:/x.png` like"), "Use `MEDIA:/x.png` like");
  CAF_CHECK_EQUAL(hide_partial_media("```\nMEDIA:/tmp/x.pn"), "```\nMEDIA:/tmp/x.pn");
  CAF_CHECK_EQUAL(hide_partial_media("the [link](http://x) "), "the [link](http://x) ");
  CAF_CHECK_EQUAL(hide_partial_media(""), "");
}
