#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace hm {

/// A token, password, key or pickle. It cannot be printed by accident: there is no
/// implicit conversion, no fmt formatter, and streaming it writes "[redacted]".
/// The only way to the value is `reveal()`, which is easy to grep for.
class secret {
public:
  secret() = default;
  explicit secret(std::string value) : value_(std::move(value)) {}
  secret(const secret&) = default;
  secret(secret&&) noexcept = default;
  secret& operator=(const secret&) = default;
  secret& operator=(secret&&) noexcept = default;
  ~secret();

  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

  /// The value itself. Use only where it leaves the process on purpose
  /// (an Authorization header, a login body, a key derivation).
  [[nodiscard]] std::string_view reveal() const noexcept { return value_; }

  friend bool operator==(const secret& a, const secret& b) noexcept {
    return a.value_ == b.value_;
  }

  /// Writes "[redacted]" (or "[empty]"), never the value.
  friend std::ostream& operator<<(std::ostream& os, const secret& s);

private:
  std::string value_;
};

} // namespace hm
