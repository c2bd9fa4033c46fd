#pragma once

// SHA-256 (FIPS 180-4) for naming things stably, e.g. session ids. Not for secrets:
// the crypto layer uses libolm's primitives, which the profiles layer may not include.

#include <string>
#include <string_view>

namespace hm::profiles {

/// The SHA-256 digest of `data`, 64 lower-case hex digits.
[[nodiscard]] std::string sha256_hex(std::string_view data);

} // namespace hm::profiles
