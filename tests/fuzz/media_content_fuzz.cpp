// libFuzzer target: media events as anyone in a room can write them (issue 15). The
// content of an m.image / m.audio / m.video / m.file / m.sticker, its EncryptedFile and
// mxc URIs are parsed; an EncryptedFile that parses is used on the input's bytes as a
// ciphertext (the hash check must refuse, never crash); what parsed is built back into
// outgoing content.
// Sources: tests/fuzz/media_content_fuzz.cpp matrix/bounded_json.cpp matrix/errors.cpp
//          matrix/base64.cpp matrix/request.cpp matrix/client_api.cpp matrix/events.cpp
//          matrix/media.cpp
//          matrix/crypto/crypto_errors.cpp matrix/crypto/secure_random.cpp
//          matrix/crypto/attachment.cpp

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/attachment.hpp"
#include "matrix/media.hpp"

using namespace hm::matrix;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void)parse_mxc(text);
  auto j = parse_bounded_json(text);
  if (!j)
    return 0;
  if (auto file = parse_encrypted_file(*j)) {
    (void)to_json(file.value());
    (void)crypto::decrypt_attachment(text, file.value());
  }
  for (auto type : {"m.room.message", "m.sticker"}) {
    auto m = parse_media_content(*j, type);
    if (!m)
      continue;
    const auto& media = m.value();
    outgoing_media out;
    out.msgtype = media.msgtype == "m.sticker" ? "m.image" : media.msgtype;
    out.filename = media.filename;
    out.mimetype = media.mimetype;
    out.size = media.size;
    out.width = media.width;
    out.height = media.height;
    out.duration_ms = media.duration_ms;
    out.url = media.url;
    out.file = media.file;
    out.voice = media.is_voice;
    (void)media_content(out);
  }
  return 0;
}
