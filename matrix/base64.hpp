#pragma once

// Unpadded base64 (spec appendix "Unpadded Base64"): what Matrix uses for every key,
// signature and ciphertext. Decoding accepts padding too, as the spec recommends.
// Here in matrix/ rather than matrix/crypto/ because attachment metadata (media.hpp)
// is parsed without libolm; matrix/crypto/base64.hpp re-exports it for the crypto code.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hm::matrix {

[[nodiscard]] std::string base64_encode_unpadded(const std::uint8_t* data, std::size_t size);
[[nodiscard]] std::string base64_encode_unpadded(std::string_view bytes);

/// The bytes, or nullopt for characters outside the standard alphabet or a length that
/// cannot come from base64 (4n+1). Bits left over in the last character are ignored.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

/// The URL-safe alphabet (RFC 4648 section 5: "-" and "_" for "+" and "/"), unpadded: what
/// a JSON Web Key's "k" holds (encrypted attachments).
[[nodiscard]] std::string base64url_encode_unpadded(std::string_view bytes);
/// Like base64_decode over the URL-safe alphabet; "+" and "/" are refused.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

} // namespace hm::matrix
