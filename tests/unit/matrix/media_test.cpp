#define CAF_SUITE media
#include "caf/test/unit_test.hpp"

#include "matrix/base64.hpp"
#include "matrix/media.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using hm::matrix::test::response;
using nlohmann::json;

namespace {

// An EncryptedFile as matrix-nio 0.25 wrote it (nio.crypto.attachments.encrypt_attachment;
// the ciphertext is in tests/unit/crypto/attachment_test.cpp).
const char* const nio_file = R"({
  "v": "v2",
  "url": "mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe",
  "key": {"kty": "oct", "alg": "A256CTR", "ext": true,
          "k": "zgyU2qPZtV3J1SPQfQ8emwG_Kk5Ri-XJtfKr8mWBSuY",
          "key_ops": ["encrypt", "decrypt"]},
  "iv": "g5a91U6rbOAAAAAAAAAAAA",
  "hashes": {"sha256": "boLOZN4SGDzTMney9T2rHY9DB84xh9MA/3QoQ5WwNVA"}})";

std::string bytes(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

// The errcode of a failed parse ("" when it succeeded, which the caller checks against).
std::string errcode_of(const json& content, std::string_view type = "m.room.message") {
  auto r = parse_media_content(content, type);
  return r ? std::string{} : r.error().errcode;
}

outgoing_media media(std::string msgtype, std::string filename, std::string mimetype,
                     std::uint64_t size) {
  outgoing_media m;
  m.msgtype = std::move(msgtype);
  m.filename = std::move(filename);
  m.mimetype = std::move(mimetype);
  m.size = size;
  return m;
}

} // namespace

// ---- mxc ------------------------------------------------------------------------------

CAF_TEST(mxc uris of every server name form parse) {
  auto plain = parse_mxc("mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_REQUIRE(plain);
  CAF_CHECK_EQUAL(plain->server_name, "example.org");
  CAF_CHECK_EQUAL(plain->media_id, "FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_CHECK_EQUAL(to_string(*plain), "mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_CHECK(parse_mxc("mxc://matrix.example.org:8448/a_b-C9"));
  CAF_CHECK(parse_mxc("mxc://1.2.3.4/abc"));
  CAF_CHECK(parse_mxc("mxc://1.2.3.4:1234/abc"));
  auto v6 = parse_mxc("mxc://[1234:5678::abcd]:8448/abc");
  CAF_REQUIRE(v6);
  CAF_CHECK_EQUAL(v6->server_name, "[1234:5678::abcd]:8448");
  CAF_CHECK(parse_mxc("mxc://localhost/x"));
}

CAF_TEST(mxc uris outside the grammar are refused) {
  for (std::string_view bad : {
           "", "mxc://", "mxc:///abc", "mxc://example.org", "mxc://example.org/",
           "http://example.org/abc", "MXC://example.org/abc", "mxc://example.org/a/b",
           "mxc://example.org/../../_synapse/admin", "mxc://example.org/a%2Fb",
           "mxc://example.org/a b", "mxc://exa mple.org/abc", "mxc://example.org:/abc",
           "mxc://example.org:123456/abc", "mxc://example.org:80x/abc",
           "mxc://user@example.org/abc", "mxc://[1234::1/abc", "mxc://[g::1]/abc",
           "mxc://[]/abc", "mxc://ex_ample.org/abc", "mxc://example.org/abc?x=1",
           "mxc://example.org/abc#f", "mxc://example.org/abc\n"}) {
    CAF_MESSAGE("refusing " << bad);
    CAF_CHECK(!parse_mxc(bad));
  }
  CAF_CHECK(!parse_mxc("mxc://" + std::string(256, 'a') + "/abc"));
  CAF_CHECK(parse_mxc("mxc://" + std::string(255, 'a') + "/abc"));
  CAF_CHECK(!parse_mxc("mxc://example.org/" + std::string(256, 'a')));
  CAF_CHECK(!parse_mxc(std::string_view{"mxc://example.org/ab\0c", 22}));
}

// ---- download and upload --------------------------------------------------------------

CAF_TEST(download requests for both media apis) {
  auto uri = *parse_mxc("mxc://example.org:8448/FHyPlCeYUSFFxlgbQYZmoEoe");
  auto authed = download_request(uri, media_api::authenticated, 10u << 20);
  CAF_CHECK(authed.method == http_method::get);
  CAF_CHECK_EQUAL(authed.target, "/_matrix/client/v1/media/download/example.org%3A8448/"
                                 "FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_CHECK(authed.needs_access_token);
  CAF_CHECK_EQUAL(authed.max_response_bytes, 10u << 20);
  CAF_CHECK(authed.timeout >= std::chrono::seconds{120});
  CAF_CHECK(!authed.body && !authed.raw_body);
  auto legacy = download_request(uri, media_api::legacy, 0);
  CAF_CHECK_EQUAL(legacy.target,
                  "/_matrix/media/v3/download/example.org%3A8448/FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_CHECK(legacy.needs_access_token);
  CAF_CHECK_EQUAL(legacy.max_response_bytes, 0u);
}

CAF_TEST(a hand made mxc cannot leave the download path) {
  mxc_uri hostile{"example.org/../../_synapse", "x?access_token=y"};
  auto r = download_request(hostile, media_api::authenticated, 0);
  CAF_CHECK_EQUAL(r.target, "/_matrix/client/v1/media/download/"
                            "example.org%2F..%2F..%2F_synapse/x%3Faccess_token%3Dy");
}

CAF_TEST(a missing authenticated media api is told from missing media) {
  CAF_CHECK(media_api_missing(response(
      404, R"({"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"})")));
  CAF_CHECK(media_api_missing(response(
      405, R"({"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"})")));
  CAF_CHECK(media_api_missing(response(404, "<html><body>404 Not Found</body></html>")));
  CAF_CHECK(media_api_missing(response(404, "")));
  CAF_CHECK(media_api_missing(response(404, "{}")));
  // About the media itself, or another failure: no fallback.
  CAF_CHECK(!media_api_missing(
      response(404, R"({"errcode":"M_NOT_FOUND","error":"Not found"})")));
  CAF_CHECK(!media_api_missing(response(405, "<html>Method Not Allowed</html>")));
  CAF_CHECK(!media_api_missing(response(403, R"({"errcode":"M_UNRECOGNIZED"})")));
  CAF_CHECK(!media_api_missing(response(
      401, R"({"errcode":"M_MISSING_TOKEN","error":"Missing access token"})")));
  CAF_CHECK(!media_api_missing(response(200, "bytes")));
  CAF_CHECK(!media_api_missing(response(502, "")));
}

CAF_TEST(versions tell whether authenticated media exists) {
  CAF_CHECK(supports_authenticated_media(
      json::parse(R"({"versions":["r0.6.1","v1.1","v1.10","v1.11"]})")));
  CAF_CHECK(supports_authenticated_media(json::parse(R"({"versions":["v1.12"]})")));
  CAF_CHECK(supports_authenticated_media(json::parse(R"({"versions":["v2.0"]})")));
  CAF_CHECK(supports_authenticated_media(json::parse(
      R"({"versions":["v1.10"],"unstable_features":{"org.matrix.msc3916.stable":true}})")));
  CAF_CHECK(!supports_authenticated_media(
      json::parse(R"({"versions":["r0.6.1","v1.1","v1.9","v1.10"]})")));
  CAF_CHECK(!supports_authenticated_media(json::parse(
      R"({"versions":["v1.10"],"unstable_features":{"org.matrix.msc3916.stable":false}})")));
  CAF_CHECK(!supports_authenticated_media(json::parse(R"({"versions":["v1.","v","v.11",3]})")));
  CAF_CHECK(!supports_authenticated_media(json::parse(R"({"versions":"v1.11"})")));
  CAF_CHECK(!supports_authenticated_media(json::parse("[]")));
}

CAF_TEST(upload request carries the raw bytes) {
  std::string png{"\x89PNG\r\n\x1a\n\0\0", 10};
  auto r = upload_request(png, "image/png", "cat photo #1.png");
  CAF_CHECK(r.method == http_method::post);
  CAF_CHECK_EQUAL(r.target, "/_matrix/media/v3/upload?filename=cat%20photo%20%231.png");
  CAF_CHECK(!r.body);
  CAF_REQUIRE(r.raw_body);
  CAF_CHECK(*r.raw_body == png);
  CAF_CHECK(body_text(r) == png);
  CAF_CHECK_EQUAL(r.content_type, "image/png");
  CAF_CHECK_EQUAL(body_content_type(r), "image/png");
  CAF_CHECK(r.needs_access_token);
  CAF_CHECK(r.timeout >= std::chrono::seconds{120});
  auto unnamed = upload_request("x", "", "");
  CAF_CHECK_EQUAL(unnamed.target, "/_matrix/media/v3/upload");
  CAF_CHECK_EQUAL(unnamed.content_type, "application/octet-stream");
  auto injected = upload_request("x", "text/plain\r\nX-Evil: 1", "a.txt");
  CAF_CHECK_EQUAL(injected.content_type, "application/octet-stream");
}

CAF_TEST(upload responses) {
  auto ok = parse_upload_response(
      response(200, R"({"content_uri":"mxc://example.com/AQwafuaFswefuhsfAFAgsw"})"));
  CAF_REQUIRE(ok);
  CAF_CHECK(ok.value() == (mxc_uri{"example.com", "AQwafuaFswefuhsfAFAgsw"}));
  for (std::string_view body : {R"({})", R"({"content_uri":5})",
                                R"({"content_uri":"https://example.com/x"})", "[]", "nope"}) {
    auto bad = parse_upload_response(response(200, body));
    CAF_REQUIRE(!bad);
    CAF_CHECK_EQUAL(bad.error().errcode, "HM_BAD_RESPONSE");
  }
  auto too_large = parse_upload_response(response(
      413, R"({"errcode":"M_TOO_LARGE","error":"Cannot upload files larger than 50.00M"})"));
  CAF_REQUIRE(!too_large);
  CAF_CHECK_EQUAL(too_large.error().errcode, "M_TOO_LARGE");
  CAF_CHECK_EQUAL(too_large.error().http_status, 413);
}

// ---- encrypted files ------------------------------------------------------------------

CAF_TEST(an encrypted file from nio parses and writes back the same) {
  auto j = json::parse(nio_file);
  auto f = parse_encrypted_file(j);
  CAF_REQUIRE(f);
  CAF_CHECK(f->url == (mxc_uri{"example.org", "FHyPlCeYUSFFxlgbQYZmoEoe"}));
  CAF_CHECK_EQUAL(f->key.size(), 32u);
  CAF_CHECK(f->key == bytes(*base64_decode("zgyU2qPZtV3J1SPQfQ8emwG/Kk5Ri+XJtfKr8mWBSuY")));
  CAF_CHECK_EQUAL(f->iv.size(), 16u);
  CAF_CHECK_EQUAL(f->sha256.size(), 32u);
  CAF_CHECK(to_json(f.value()) == j);
}

CAF_TEST(every malformed encrypted file is refused with a reason) {
  struct bad_case {
    const char* pointer; // JSON pointer of what is changed
    json value;          // its new value (null: removed)
    const char* reason;  // what the error must say
  };
  const std::vector<bad_case> cases = {
      {"/v", nullptr, "v is not"},
      {"/v", "v1", "v is not"},
      {"/v", 2, "v is not"},
      {"/url", nullptr, "url is not"},
      {"/url", "https://example.org/x", "url is not"},
      {"/url", "mxc://example.org/a/b", "url is not"},
      {"/key", nullptr, "key is not"},
      {"/key", "zgyU2qPZtV3J1SPQfQ8emwG_Kk5Ri-XJtfKr8mWBSuY", "key is not"},
      {"/key/kty", nullptr, "key.kty"},
      {"/key/kty", "RSA", "key.kty"},
      {"/key/alg", "A128CTR", "key.alg"},
      {"/key/alg", nullptr, "key.alg"},
      {"/key/ext", false, "key.ext"},
      {"/key/ext", "true", "key.ext"},
      {"/key/ext", nullptr, "key.ext"},
      {"/key/key_ops", json::array({"encrypt"}), "key.key_ops"},
      {"/key/key_ops", json::array({"decrypt"}), "key.key_ops"},
      {"/key/key_ops", "encrypt decrypt", "key.key_ops"},
      {"/key/key_ops", nullptr, "key.key_ops"},
      {"/key/k", nullptr, "key.k"},
      {"/key/k", "zgyU2qPZtV3J1SPQfQ8emwG/Kk5Ri+XJtfKr8mWBSuY", "key.k"}, // not URL-safe
      {"/key/k", "zgyU2qPZtV3J1SPQfQ8emwG_Kk5Ri-XJtfKr8mWBSu", "key.k"},  // 31 bytes
      {"/key/k", "AAAA", "key.k"},
      {"/key/k", "!!!!", "key.k"},
      {"/key/k", 32, "key.k"},
      {"/iv", nullptr, "iv is not"},
      {"/iv", "g5a91U6rbOAAAAAAAAAA", "iv is not"},   // 15 bytes
      {"/iv", "g5a91U6rbOAAAAAAAAAAAAAA", "iv is not"}, // 18 bytes
      {"/iv", "g5a9-U6rbOAAAAAAAAAAAA", "iv is not"},  // URL-safe alphabet
      {"/iv", 16, "iv is not"},
      {"/hashes", nullptr, "hashes.sha256"},
      {"/hashes", "boLOZN4SGDzTMney9T2rHY9DB84xh9MA/3QoQ5WwNVA", "hashes.sha256"},
      {"/hashes/sha256", nullptr, "hashes.sha256"},
      {"/hashes/sha256", "boLOZN4SGDzTMney9T2rHY9DB84xh9MA", "hashes.sha256"},
  };
  for (const auto& c : cases) {
    auto j = json::parse(nio_file);
    json::json_pointer p{c.pointer};
    if (c.value.is_null())
      j.at(p.parent_pointer()).erase(p.back());
    else
      j[p] = c.value;
    auto f = parse_encrypted_file(j);
    CAF_MESSAGE("case " << c.pointer << " = " << c.value.dump());
    CAF_REQUIRE(!f);
    CAF_CHECK_EQUAL(f.error().errcode, "HM_BAD_ENCRYPTED_FILE");
    CAF_CHECK_NOT_EQUAL(f.error().error.find(c.reason), std::string::npos);
    // The key is a secret: no error text ever carries it.
    CAF_CHECK_EQUAL(f.error().error.find("zgyU2qPZ"), std::string::npos);
  }
  CAF_CHECK(!parse_encrypted_file(json::array()));
  CAF_CHECK(!parse_encrypted_file(json("mxc://example.org/abc")));
  CAF_CHECK(!parse_encrypted_file(json()));
  // Extra hashes and key fields are allowed (the spec's maps may grow).
  auto extra = json::parse(nio_file);
  extra["hashes"]["sha512"] = "AAAA";
  extra["key"]["key_ops"] = {"wrapKey", "decrypt", "encrypt"};
  CAF_CHECK(parse_encrypted_file(extra));
}

// ---- incoming media -------------------------------------------------------------------

CAF_TEST(an element image in an encrypted room) {
  auto content = json::parse(R"({
    "body": "IMG_2024.jpg",
    "file": )" + std::string{nio_file} + R"(,
    "info": {
      "h": 3024, "w": 4032, "mimetype": "image/jpeg", "size": 2543210,
      "thumbnail_file": )" + std::string{nio_file} + R"(,
      "thumbnail_info": {"h": 600, "w": 800, "mimetype": "image/jpeg", "size": 54321},
      "xyz.amorgan.blurhash": "LKO2?U%2Tw=w]~RBVZRi};RPxuwH"
    },
    "msgtype": "m.image"})");
  auto m = parse_media_content(content, "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->msgtype, "m.image");
  CAF_CHECK_EQUAL(m->filename, "IMG_2024.jpg");
  CAF_CHECK_EQUAL(m->caption, "");
  CAF_CHECK_EQUAL(m->mimetype, "image/jpeg");
  CAF_CHECK_EQUAL(m->size, 2543210u);
  CAF_CHECK_EQUAL(m->width, 4032);
  CAF_CHECK_EQUAL(m->height, 3024);
  CAF_CHECK(!m->url);
  CAF_REQUIRE(m->file);
  CAF_CHECK_EQUAL(m->file->url.media_id, "FHyPlCeYUSFFxlgbQYZmoEoe");
  CAF_CHECK(!m->is_voice);
  CAF_REQUIRE(m->thumbnail);
  CAF_CHECK(m->thumbnail->file);
  CAF_CHECK(!m->thumbnail->url);
  CAF_CHECK_EQUAL(m->thumbnail->mimetype, "image/jpeg");
  CAF_CHECK_EQUAL(m->thumbnail->width, 800);
  CAF_CHECK_EQUAL(m->thumbnail->height, 600);
  CAF_CHECK_EQUAL(m->thumbnail->size, 54321u);
}

CAF_TEST(a captioned image per matrix 1.10) {
  auto m = parse_media_content(json::parse(R"({
    "msgtype": "m.image", "body": "Look at **this** cat", "filename": "cat.png",
    "format": "org.matrix.custom.html", "formatted_body": "Look at <b>this</b> cat",
    "url": "mxc://example.org/cat", "info": {"mimetype": "image/png"}})"),
                               "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->filename, "cat.png");
  CAF_CHECK_EQUAL(m->caption, "Look at **this** cat");
  CAF_REQUIRE(m->url);
  CAF_CHECK(*m->url == (mxc_uri{"example.org", "cat"}));
  CAF_CHECK(!m->file);
  // filename equal to body, or empty: body is the name, no caption.
  auto same = parse_media_content(
      json::parse(R"({"msgtype":"m.file","body":"a.pdf","filename":"a.pdf",
                      "url":"mxc://example.org/a"})"),
      "m.room.message");
  CAF_REQUIRE(same);
  CAF_CHECK_EQUAL(same->filename, "a.pdf");
  CAF_CHECK_EQUAL(same->caption, "");
  auto empty = parse_media_content(
      json::parse(R"({"msgtype":"m.file","body":"a.pdf","filename":"",
                      "url":"mxc://example.org/a"})"),
      "m.room.message");
  CAF_REQUIRE(empty);
  CAF_CHECK_EQUAL(empty->filename, "a.pdf");
  CAF_CHECK_EQUAL(empty->caption, "");
}

CAF_TEST(an element voice message) {
  auto m = parse_media_content(json::parse(R"({
    "body": "Voice message",
    "info": {"duration": 4120, "mimetype": "audio/ogg", "size": 18237},
    "msgtype": "m.audio",
    "org.matrix.msc1767.audio": {"duration": 4120, "waveform": [0, 12, 1024, 80]},
    "org.matrix.msc1767.file": {"mimetype": "audio/ogg", "name": "Voice message.ogg",
                                "size": 18237, "url": "mxc://example.org/voice"},
    "org.matrix.msc1767.text": "Voice message",
    "org.matrix.msc3245.voice": {},
    "url": "mxc://example.org/voice"})"),
                               "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->msgtype, "m.audio");
  CAF_CHECK(m->is_voice);
  CAF_CHECK_EQUAL(m->duration_ms, 4120u);
  CAF_CHECK_EQUAL(m->mimetype, "audio/ogg");
  CAF_CHECK_EQUAL(m->filename, "Voice message");
}

CAF_TEST(audio without voice marker and duration only in msc1767) {
  auto m = parse_media_content(json::parse(R"({
    "msgtype": "m.audio", "body": "song.mp3", "url": "mxc://example.org/song",
    "org.matrix.msc1767.audio": {"duration": 1500.7}})"),
                               "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK(!m->is_voice);
  CAF_CHECK_EQUAL(m->duration_ms, 1500u);
  // The voice marker means nothing on another msgtype.
  auto file = parse_media_content(json::parse(R"({
    "msgtype": "m.file", "body": "x", "url": "mxc://example.org/x",
    "org.matrix.msc3245.voice": {}})"),
                                  "m.room.message");
  CAF_REQUIRE(file);
  CAF_CHECK(!file->is_voice);
}

CAF_TEST(nio shapes with null thumbnails and video) {
  // nio's documented image upload example leaves thumbnail_url and thumbnail_info null.
  auto m = parse_media_content(json::parse(R"({
    "body": "cat.jpg",
    "info": {"size": 1234, "mimetype": "image/jpeg", "thumbnail_info": null,
             "w": 640, "h": 480, "thumbnail_url": null},
    "msgtype": "m.image",
    "url": "mxc://example.org/cat"})"),
                               "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK(!m->thumbnail);
  CAF_CHECK_EQUAL(m->width, 640);
  auto video = parse_media_content(json::parse(R"({
    "body": "clip.mp4", "msgtype": "m.video", "url": "mxc://example.org/clip",
    "info": {"duration": 2500, "mimetype": "video/mp4", "size": 99999, "w": 1280, "h": 720,
             "thumbnail_url": "mxc://example.org/thumb",
             "thumbnail_info": {"mimetype": "image/jpeg", "w": 320, "h": 180}}})"),
                                   "m.room.message");
  CAF_REQUIRE(video);
  CAF_CHECK_EQUAL(video->msgtype, "m.video");
  CAF_CHECK_EQUAL(video->duration_ms, 2500u);
  CAF_REQUIRE(video->thumbnail);
  CAF_REQUIRE(video->thumbnail->url);
  CAF_CHECK_EQUAL(video->thumbnail->url->media_id, "thumb");
  CAF_CHECK_EQUAL(video->thumbnail->width, 320);
}

CAF_TEST(a broken thumbnail is left out and the media kept) {
  for (const char* info : {R"({"thumbnail_url": "https://evil.example/x"})",
                           R"({"thumbnail_file": {"v": "v2"}})",
                           R"({"thumbnail_url": "mxc://example.org/t", "thumbnail_info": 5})",
                           R"({"thumbnail_url": "mxc://example.org/t",
                               "thumbnail_info": {"w": -1}})"}) {
    auto content = json::parse(R"({"msgtype":"m.image","body":"a.png",
                                   "url":"mxc://example.org/a"})");
    content["info"] = json::parse(info);
    auto m = parse_media_content(content, "m.room.message");
    CAF_REQUIRE(m);
    CAF_CHECK(!m->thumbnail);
    CAF_CHECK(m->url);
  }
}

CAF_TEST(a sticker) {
  auto m = parse_media_content(json::parse(R"({
    "body": "Landing",
    "info": {"h": 200, "mimetype": "image/png", "size": 73602, "w": 140,
             "thumbnail_url": "mxc://matrix.org/sHhqkFCvSkFwtmvtETOtKnLP",
             "thumbnail_info": {"h": 200, "mimetype": "image/png", "size": 73602, "w": 140}},
    "url": "mxc://matrix.org/sHhqkFCvSkFwtmvtETOtKnLP"})"),
                               "m.sticker");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->msgtype, "m.sticker");
  CAF_CHECK_EQUAL(m->caption, "Landing");
  CAF_CHECK_EQUAL(m->filename, "");
  CAF_CHECK_EQUAL(m->width, 140);
  CAF_REQUIRE(m->url);
}

CAF_TEST(malformed media content is refused with a reason) {
  auto base = [] {
    return json::parse(R"({"msgtype":"m.image","body":"a.png","url":"mxc://example.org/a"})");
  };
  struct bad_case {
    const char* key;
    json value; // null: removed
    const char* reason;
  };
  const std::vector<bad_case> cases = {
      {"msgtype", "m.text", "msgtype"},
      {"msgtype", 1, "msgtype"},
      {"msgtype", nullptr, "msgtype"},
      {"body", 5, "body is not a string"},
      {"filename", json::array(), "filename is not a string"},
      {"info", "big", "info is not a JSON object"},
      {"info", json::parse(R"({"size":"12"})"), "info.size"},
      {"info", json::parse(R"({"size":-1})"), "info.size"},
      {"info", json::parse(R"({"w":1e300})"), "info.w"},
      {"info", json::parse(R"({"h":true})"), "info.h"},
      {"info", json::parse(R"({"mimetype":7})"), "info.mimetype"},
      {"info", json::parse(R"({"duration":[1]})"), "info.duration"},
      {"url", nullptr, "neither url nor file"},
      {"url", "https://example.org/a.png", "url is not an mxc"},
      {"url", 42, "url is not an mxc"},
      {"url", "mxc://example.org/../a", "url is not an mxc"},
      {"file", "mxc://example.org/a", "file: encrypted file: not a JSON object"},
      {"file", json::parse(R"({"v":"v2"})"), "file: encrypted file: url"},
      {"org.matrix.msc1767.audio", json::parse(R"({"duration":"long"})"),
       "org.matrix.msc1767.audio.duration"},
  };
  for (const auto& c : cases) {
    auto content = base();
    if (c.value.is_null())
      content.erase(c.key);
    else
      content[c.key] = c.value;
    auto r = parse_media_content(content, "m.room.message");
    CAF_MESSAGE("case " << c.key << " = " << c.value.dump());
    CAF_REQUIRE(!r);
    CAF_CHECK_NOT_EQUAL(r.error().error.find(c.reason), std::string::npos);
  }
  CAF_CHECK_EQUAL(errcode_of(json::array()), "HM_BAD_MEDIA_CONTENT");
  CAF_CHECK_EQUAL(errcode_of(base(), "m.room.encrypted"), "HM_BAD_MEDIA_CONTENT");
  auto bad_file = base();
  bad_file["file"] = json::parse(R"({"v":"v2"})");
  CAF_CHECK_EQUAL(errcode_of(bad_file), "HM_BAD_ENCRYPTED_FILE");
}

CAF_TEST(a missing body is an unnamed file) {
  auto m = parse_media_content(json::parse(R"({"msgtype":"m.file","url":"mxc://a.b/c"})"),
                               "m.room.message");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->filename, "");
}

// ---- outgoing media -------------------------------------------------------------------

CAF_TEST(an image for a plain room) {
  auto m = media("m.image", "chart.png", "image/png", 31337);
  m.width = 1024;
  m.height = 768;
  m.url = mxc_uri{"example.org", "chart"};
  outgoing_thumbnail t;
  t.url = mxc_uri{"example.org", "chart_thumb"};
  t.mimetype = "image/jpeg";
  t.size = 4242;
  t.width = 320;
  t.height = 240;
  m.thumbnail = t;
  auto c = media_content(m);
  CAF_REQUIRE(c);
  CAF_CHECK(c.value() == json::parse(R"({
    "msgtype": "m.image", "body": "chart.png", "filename": "chart.png",
    "url": "mxc://example.org/chart", "m.mentions": {},
    "info": {"mimetype": "image/png", "size": 31337, "w": 1024, "h": 768,
             "thumbnail_url": "mxc://example.org/chart_thumb",
             "thumbnail_info": {"mimetype": "image/jpeg", "size": 4242, "w": 320, "h": 240}}})"));
  // What we send, we read back the same.
  auto back = parse_media_content(c.value(), "m.room.message");
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->filename, "chart.png");
  CAF_CHECK_EQUAL(back->caption, "");
  CAF_CHECK_EQUAL(back->size, 31337u);
  CAF_REQUIRE(back->thumbnail);
  CAF_CHECK_EQUAL(back->thumbnail->size, 4242u);
}

CAF_TEST(a voice message for an encrypted room) {
  auto file = parse_encrypted_file(json::parse(nio_file));
  CAF_REQUIRE(file);
  auto m = media("m.audio", "reply.ogg", "audio/ogg", 5000);
  m.duration_ms = 2750;
  m.voice = true;
  m.file = file.value();
  auto c = media_content(m);
  CAF_REQUIRE(c);
  CAF_CHECK(!c->contains("url"));
  CAF_CHECK(c.value()["file"] == json::parse(nio_file));
  CAF_CHECK(c.value()["org.matrix.msc3245.voice"] == json::object());
  CAF_CHECK(c.value()["org.matrix.msc1767.audio"] == json::parse(R"({"duration":2750})"));
  CAF_CHECK(c.value()["info"] ==
            json::parse(R"({"mimetype":"audio/ogg","size":5000,"duration":2750})"));
  auto back = parse_media_content(c.value(), "m.room.message");
  CAF_REQUIRE(back);
  CAF_CHECK(back->is_voice);
  CAF_CHECK_EQUAL(back->duration_ms, 2750u);
  CAF_REQUIRE(back->file);
  CAF_CHECK(back->file->key == file->key);
}

CAF_TEST(media content refuses what must not be sent) {
  auto file = parse_encrypted_file(json::parse(nio_file)).value();
  auto reason = [](const outgoing_media& m) {
    auto c = media_content(m);
    return c ? std::string{} : c.error().error;
  };
  outgoing_media both;
  both.filename = "x";
  both.url = mxc_uri{"example.org", "x"};
  both.file = file;
  CAF_CHECK_NOT_EQUAL(reason(both).find("exactly one of url"), std::string::npos);
  outgoing_media neither;
  neither.filename = "x";
  CAF_CHECK_NOT_EQUAL(reason(neither).find("exactly one of url"), std::string::npos);
  outgoing_media not_uploaded;
  not_uploaded.file = file;
  not_uploaded.file->url = {};
  CAF_CHECK_NOT_EQUAL(reason(not_uploaded).find("no valid mxc"), std::string::npos);
  outgoing_media text;
  text.msgtype = "m.text";
  text.url = mxc_uri{"example.org", "x"};
  CAF_CHECK_NOT_EQUAL(reason(text).find("msgtype"), std::string::npos);
  outgoing_media voice_image;
  voice_image.msgtype = "m.image";
  voice_image.voice = true;
  voice_image.url = mxc_uri{"example.org", "x"};
  CAF_CHECK_NOT_EQUAL(reason(voice_image).find("voice"), std::string::npos);
  // An encrypted room's file never gets a thumbnail in the clear (and the reverse).
  outgoing_media leaky;
  leaky.msgtype = "m.image";
  leaky.file = file;
  leaky.thumbnail = outgoing_thumbnail{};
  leaky.thumbnail->url = mxc_uri{"example.org", "thumb"};
  CAF_CHECK_NOT_EQUAL(reason(leaky).find("encrypted exactly when"), std::string::npos);
  outgoing_media two_thumbs = leaky;
  two_thumbs.thumbnail->file = file;
  CAF_CHECK_NOT_EQUAL(reason(two_thumbs).find("thumbnail needs exactly one"),
                      std::string::npos);
  outgoing_media encrypted_thumb = leaky;
  encrypted_thumb.thumbnail->url.reset();
  encrypted_thumb.thumbnail->file = file;
  auto ok = media_content(encrypted_thumb);
  CAF_REQUIRE(ok);
  CAF_CHECK(ok.value()["info"]["thumbnail_file"] == json::parse(nio_file));
  CAF_CHECK(!ok.value()["info"].contains("thumbnail_url"));
}
