#define CAF_SUITE attachment
#include "caf/test/unit_test.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include "matrix/crypto/attachment.hpp"
#include "matrix/crypto/crypto_errors.hpp"

using namespace hm::matrix;
using namespace hm::matrix::crypto;
using nlohmann::json;

namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(digits[u >> 4]);
    out.push_back(digits[u & 15]);
  }
  return out;
}

// Made with matrix-nio 0.25 (/usr/bin/python3, nio.crypto.attachments.encrypt_attachment)
// from the plaintext below, independently of this code.
const std::string nio_plaintext =
    std::string{"Hermes and nio agree: this attachment spans several AES blocks, ends "
                "mid-block.\n"} +
    std::string{"\x00\x01\xfe\xff", 4};
constexpr std::string_view nio_ciphertext_hex =
    "848fc432fa70f41f539882eeda776c32afc83e78bdd51adc2448d2e526c6003754930f2d0a268a7fcd74"
    "8852f2c71d078b2df7af6abfaa4bbd5d78280930a2f05eed85a20ee0a2640a102ad78b062a9b2ec1b3fd";
const char* const nio_file = R"({
  "v": "v2", "url": "mxc://example.org/nio",
  "key": {"kty": "oct", "alg": "A256CTR", "ext": true,
          "k": "zgyU2qPZtV3J1SPQfQ8emwG_Kk5Ri-XJtfKr8mWBSuY",
          "key_ops": ["encrypt", "decrypt"]},
  "iv": "g5a91U6rbOAAAAAAAAAAAA",
  "hashes": {"sha256": "boLOZN4SGDzTMney9T2rHY9DB84xh9MA/3QoQ5WwNVA"}})";

// Made by this code's encrypt_attachment, then decrypted once by hand with nio's
// decrypt_attachment (tests/unit/crypto/check_attachment_with_nio.py) to the plaintext
// below: the proof that what we send, nio (and so Element's format) reads.
const std::string ours_plaintext = "Hermes-matrix encrypted this; nio decrypted it. 0123456789";
constexpr std::string_view ours_ciphertext_hex =
    "3d7a7a89c0b8a47189d34a695f2d844bdfe1b3700705e6a7ac653a4fa5f2939599fec2814be43b63c66f"
    "7762825f00d62db459f6f93dc7b20712";
const char* const ours_file = R"({
  "hashes": {"sha256": "t08FLA8uDZg6lEeMTTpvRvFHCQqifVDl0z3de/iBRPE"},
  "iv": "JntIOOGjsQQAAAAAAAAAAA",
  "key": {"alg": "A256CTR", "ext": true, "k": "Hy-1XAOQg6M6CmsS2NkM8kR_xmLzAESsiMacBPF5Alk",
          "key_ops": ["encrypt", "decrypt"], "kty": "oct"},
  "url": "mxc://example.org/ours", "v": "v2"})";

encrypted_file parsed(const char* text) {
  auto f = parse_encrypted_file(json::parse(text));
  CAF_REQUIRE(f);
  return f.value();
}

} // namespace

CAF_TEST(we decrypt what nio encrypted) {
  auto plain = decrypt_attachment(from_hex(nio_ciphertext_hex), parsed(nio_file));
  CAF_REQUIRE(plain);
  CAF_CHECK(plain.value() == nio_plaintext);
}

CAF_TEST(nio decrypted what we encrypted) {
  auto file = parsed(ours_file);
  auto plain = decrypt_attachment(from_hex(ours_ciphertext_hex), file);
  CAF_REQUIRE(plain);
  CAF_CHECK(plain.value() == ours_plaintext);
  // Our IVs end in eight zero bytes, as the spec asks.
  CAF_CHECK(file.iv.substr(8) == std::string(8, '\0'));
}

CAF_TEST(round trip of empty small and large files) {
  std::string large(3 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < large.size(); ++i)
    large[i] = static_cast<char>(i * 31 + 7);
  for (const std::string& plaintext : {std::string{}, std::string{"x"}, nio_plaintext, large}) {
    auto enc = encrypt_attachment(plaintext);
    CAF_REQUIRE(enc);
    CAF_CHECK_EQUAL(enc->ciphertext.size(), plaintext.size());
    CAF_CHECK(plaintext.size() < 16 || enc->ciphertext != plaintext);
    CAF_CHECK_EQUAL(enc->file.key.size(), 32u);
    CAF_CHECK_EQUAL(enc->file.iv.size(), 16u);
    CAF_CHECK(enc->file.iv.substr(8) == std::string(8, '\0'));
    CAF_CHECK(enc->file.url == mxc_uri{});
    // Through the JSON the event carries, once uploaded.
    enc->file.url = mxc_uri{"example.org", "up"};
    auto back = parse_encrypted_file(to_json(enc->file));
    CAF_REQUIRE(back);
    auto dec = decrypt_attachment(enc->ciphertext, back.value());
    CAF_REQUIRE(dec);
    CAF_CHECK(dec.value() == plaintext);
  }
}

CAF_TEST(every attachment gets its own key and iv) {
  auto a = encrypt_attachment("same bytes");
  auto b = encrypt_attachment("same bytes");
  CAF_REQUIRE(a && b);
  CAF_CHECK(a->file.key != b->file.key);
  CAF_CHECK(a->file.iv != b->file.iv);
  CAF_CHECK(a->ciphertext != b->ciphertext);
}

CAF_TEST(a hash mismatch is refused before decrypting) {
  auto file = parsed(nio_file);
  auto ciphertext = from_hex(nio_ciphertext_hex);
  auto flipped = ciphertext;
  flipped[40] = static_cast<char>(flipped[40] ^ 0x01);
  auto r = decrypt_attachment(flipped, file);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, errcode_bad_attachment_hash);
  CAF_CHECK_EQUAL(r.error().http_status, 0);
  auto truncated = decrypt_attachment(std::string_view{ciphertext}.substr(1), file);
  CAF_REQUIRE(!truncated);
  CAF_CHECK_EQUAL(truncated.error().errcode, errcode_bad_attachment_hash);
  auto other_hash = file;
  other_hash.sha256[0] = static_cast<char>(other_hash.sha256[0] ^ 0x80);
  auto swapped = decrypt_attachment(ciphertext, other_hash);
  CAF_REQUIRE(!swapped);
  CAF_CHECK_EQUAL(swapped.error().errcode, errcode_bad_attachment_hash);
  CAF_CHECK(!decrypt_attachment("", file));
}

CAF_TEST(a hand made file with wrong lengths is refused) {
  auto file = parsed(nio_file);
  auto ciphertext = from_hex(nio_ciphertext_hex);
  for (auto change : {+[](encrypted_file& f) { f.key.pop_back(); },
                      +[](encrypted_file& f) { f.iv += "x"; },
                      +[](encrypted_file& f) { f.sha256.clear(); }}) {
    auto broken = file;
    change(broken);
    auto r = decrypt_attachment(ciphertext, broken);
    CAF_REQUIRE(!r);
    CAF_CHECK_EQUAL(r.error().errcode, errcode_bad_key);
    CAF_CHECK_EQUAL(r.error().error.find(file.key), std::string::npos);
  }
}

CAF_TEST(the counter wraps in its low 64 bits as webcrypto and nio count) {
  // Keystream for key = bytes 0..31, IV = 0102030405060708 ffffffffffffffff, made with
  // PyCryptodome's AES-ECB over the counter blocks ...ff..ff, ...00..00, ...00..01: after
  // the wrap the first 8 bytes stay 0102030405060708 (OpenSSL alone would carry into them).
  auto keystream = from_hex("e7df83f5de275e1bafb10e6a17c6fd2865627bd127f455618ff9d0f081df2db4"
                            "e4a143bc51277a003d85d6825ad10fb2");
  encrypted_file f;
  for (int i = 0; i < 32; ++i)
    f.key.push_back(static_cast<char>(i));
  f.iv = from_hex("0102030405060708ffffffffffffffff");
  f.sha256 = from_hex("7e768f94850abe6c640405ad3d0f416be5ae865cdd8bf0d432ae9d480f604488");
  auto plain = decrypt_attachment(keystream, f);
  CAF_REQUIRE(plain);
  CAF_CHECK(plain.value() == std::string(48, '\0'));
}

// Writes a fresh vector of ours for check_attachment_with_nio.py when
// HM_ATTACHMENT_VECTOR_OUT names a file; otherwise does nothing.
CAF_TEST(export a vector for nio when asked) {
  const char* out = std::getenv("HM_ATTACHMENT_VECTOR_OUT");
  if (out == nullptr)
    return;
  auto enc = encrypt_attachment(ours_plaintext);
  CAF_REQUIRE(enc);
  enc->file.url = mxc_uri{"example.org", "ours"};
  std::ofstream f(out);
  f << json{{"plaintext_hex", to_hex(ours_plaintext)},
            {"ciphertext_hex", to_hex(enc->ciphertext)},
            {"file", to_json(enc->file)}}
           .dump(2)
    << "\n";
  CAF_CHECK(f.good());
}
