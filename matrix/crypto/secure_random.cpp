#include "matrix/crypto/secure_random.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/random.h>

namespace hm::matrix::crypto {

secret_bytes::secret_bytes(secret_bytes&& other) noexcept
    : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

secret_bytes& secret_bytes::operator=(secret_bytes&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

secret_bytes::~secret_bytes() { wipe(); }

void secret_bytes::wipe() noexcept { wipe_memory(bytes_.data(), bytes_.size()); }

bool fill_random(std::uint8_t* out, std::size_t n) noexcept {
  std::size_t done = 0;
  while (done < n) {
    auto got = ::getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

void wipe_memory(void* p, std::size_t n) noexcept {
  if (p != nullptr && n > 0)
    ::explicit_bzero(p, n);
}

} // namespace hm::matrix::crypto
