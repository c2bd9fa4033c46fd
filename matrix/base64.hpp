#pragma once

// Unpadded base64 (spec appendix "Unpadded Base64"): what Matrix uses for every key,
// signature and ciphertext. Decoding accepts padding too, as the spec recommends.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hm::matrix::crypto {

[[nodiscard]] std::string base64_encode_unpadded(const std::uint8_t* data, std::size_t size);
[[nodiscard]] std::string base64_encode_unpadded(std::string_view bytes);

/// The bytes, or nullopt for characters outside the standard alphabet or a length that
/// cannot come from base64 (4n+1). Bits left over in the last character are ignored.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

} // namespace hm::matrix::crypto
