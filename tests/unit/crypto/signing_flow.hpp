#pragma once

// Driving a sans-I/O signing flow (own_device_signing, user_identity_signing) against
// a homeserver played by the test: each request it asks for is answered 200 with the
// body `body_for` gives. And the secret storage both read: vectors made once with
// Python's `cryptography` (HKDF, AES-CTR, HMAC, Ed25519) and a base58 written from the
// spec text, independently of this code: key = bytes 1..32, iv = bytes 100..115,
// seed = bytes 40..71.

#include <string>
#include <variant>

#include "matrix/crypto/secret_storage.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

namespace hm::matrix::crypto::test {

inline constexpr const char* recovery_key =
  "EsT1 H3Wm yHnZ VYce KwM9 c6Gk nX71 3FkR Yz9x vary hjQh 5m7X";
inline constexpr const char* iv_b64 = "ZGVmZ2hpamtsbW5vcHFycw==";
inline constexpr const char* check_mac = "bNuC0W7nxBUYPY7gVA8z78NhyRlE8kGDgATL1/Oe96k=";
inline constexpr const char* seed_b64 = "KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkc";

/// The secret storage key the recovery key encodes.
inline secret_bytes test_key() {
  secret_bytes k{32};
  for (std::size_t i = 0; i < 32; ++i)
    k.data()[i] = static_cast<std::uint8_t>(i + 1);
  return k;
}

/// Runs `flow` to its end; its last step.
template <class Flow, class BodyFor>
typename Flow::step run_signing_flow(Flow& flow, BodyFor body_for) {
  auto step = flow.start();
  while (auto* p = std::get_if<typename Flow::perform>(&step)) {
    auto body = body_for(p->request); // outlives the view the flow reads
    http_response r;
    r.status = 200;
    r.body = body;
    step = flow.answer(r);
  }
  return step;
}

/// The failure's text, or "" when the flow did not fail.
template <class Flow>
std::string failure_text(const typename Flow::step& step) {
  auto* f = std::get_if<typename Flow::failure>(&step);
  return f != nullptr ? f->text : "";
}

} // namespace hm::matrix::crypto::test
