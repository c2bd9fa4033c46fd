#pragma once

// Encrypted attachments (spec "Sending encrypted attachments"): a file in an encrypted
// room is AES-256-CTR encrypted with a fresh key before upload, and the key, the IV and
// the SHA-256 of the ciphertext travel inside the (Megolm-encrypted) event as an
// EncryptedFile (matrix/media.hpp holds that struct and its JSON). Here: the bytes.
//
// Counter: the IV's last 8 bytes count blocks and wrap around by themselves, its first 8
// never change (WebCrypto's AES-CTR with `length: 64`, as Element uses, and matrix-nio's
// 64-bit Counter). A file we encrypt starts its count at 0 and cannot reach a wrap; a
// file from someone else may start anywhere, and is decrypted the way its sender
// encrypted it.

#include <string>
#include <string_view>

#include "matrix/errors.hpp"
#include "matrix/media.hpp"

namespace hm::matrix::crypto {

/// The SHA-256 of the downloaded ciphertext is not the one the event names: the file was
/// changed or swapped on the way. Nothing is decrypted.
inline constexpr std::string_view errcode_bad_attachment_hash = "HM_BAD_ATTACHMENT_HASH";

/// The ciphertext of a file, and what decrypts it (its `url` is empty until the
/// ciphertext has been uploaded and the caller sets it).
struct encrypted_attachment {
  std::string ciphertext;
  encrypted_file file;
};

/// The plaintext of `ciphertext`, after checking (in constant time, before any
/// decryption) that its SHA-256 is `file.sha256`: HM_BAD_ATTACHMENT_HASH when not,
/// HM_BAD_KEY when the key is not 32 bytes or the IV not 16 (a hand-made
/// encrypted_file; parse_encrypted_file never gives one).
[[nodiscard]] result<std::string> decrypt_attachment(std::string_view ciphertext,
                                                     const encrypted_file& file);

/// `plaintext` encrypted with a fresh random 32-byte key and an IV of 8 random bytes and
/// 8 zero bytes (the spec: the counter half starts at zero), with the SHA-256 of the
/// ciphertext. HM_NO_RANDOMNESS when the kernel gives no random bytes.
[[nodiscard]] result<encrypted_attachment> encrypt_attachment(std::string_view plaintext);

} // namespace hm::matrix::crypto
