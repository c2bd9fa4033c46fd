#pragma once

// Randomness for libolm (which takes its random bytes from the caller) and wiping of
// secrets. getrandom(2) is a system call, not I/O in the sans-I/O sense: it never blocks
// once the kernel's pool is initialised, and it has no failure we could retry sensibly.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hm::matrix::crypto {

/// A buffer that is wiped when it goes away (random input to libolm, decrypted
/// plaintexts, exported keys). Move-only.
class secret_bytes {
public:
  secret_bytes() = default;
  explicit secret_bytes(std::size_t n) : bytes_(n) {}
  secret_bytes(const secret_bytes&) = delete;
  secret_bytes& operator=(const secret_bytes&) = delete;
  secret_bytes(secret_bytes&& other) noexcept;
  secret_bytes& operator=(secret_bytes&& other) noexcept;
  ~secret_bytes();

  [[nodiscard]] std::uint8_t* data() noexcept { return bytes_.data(); }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  void wipe() noexcept;

private:
  std::vector<std::uint8_t> bytes_;
};

/// Fills `out` from the kernel CSPRNG; false when that fails (no entropy source).
[[nodiscard]] bool fill_random(std::uint8_t* out, std::size_t n) noexcept;

/// Zeroes memory in a way the optimiser keeps.
void wipe_memory(void* p, std::size_t n) noexcept;

} // namespace hm::matrix::crypto
