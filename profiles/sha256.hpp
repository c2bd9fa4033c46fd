#pragma once

// SHA-256 for naming things stably, e.g. session ids: OpenSSL's, in hex.

#include <string>
#include <string_view>

namespace hm::profiles {

/// The SHA-256 digest of `data`, 64 lower-case hex digits.
[[nodiscard]] std::string sha256_hex(std::string_view data);

} // namespace hm::profiles
