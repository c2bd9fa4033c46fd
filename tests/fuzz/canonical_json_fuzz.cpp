// libFuzzer target: canonical JSON and base64 over anything a homeserver or another
// device could send. Properties: never crash; canonical JSON is a fixed point (encoding,
// parsing and encoding again gives the same bytes, which is what lets two sides agree on
// what a signature covers); base64 decoding then encoding then decoding is stable.
// Sources: tests/fuzz/canonical_json_fuzz.cpp matrix/bounded_json.cpp matrix/errors.cpp
//          matrix/crypto/crypto_errors.cpp matrix/crypto/canonical_json.cpp
//          matrix/crypto/base64.cpp

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/canonical_json.hpp"

using namespace hm::matrix;
using namespace hm::matrix::crypto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  if (auto decoded = base64_decode(text)) {
    auto again = base64_decode(base64_encode_unpadded(decoded->data(), decoded->size()));
    if (!again || *again != *decoded)
      std::abort();
  }
  auto j = parse_bounded_json(text);
  if (!j)
    return 0;
  (void)signable_json(*j);
  auto first = canonical_json(*j);
  if (!first)
    return 0;
  auto reparsed = parse_bounded_json(first.value(), json_limits{200, 1u << 30});
  if (!reparsed)
    std::abort();
  auto second = canonical_json(*reparsed);
  if (!second || second.value() != first.value())
    std::abort();
  return 0;
}
