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
  // Copies and moves are written out so that no stale copy of the value is left
  // behind in a buffer that is about to be freed or reused (see secret.cpp).
  secret(const secret& other) : value_(other.value_) {}
  secret(secret&& other) noexcept;
  secret& operator=(const secret& other);
  secret& operator=(secret&& other) noexcept;
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

  /// For printing inspectors (CAF's deep_to_string picks `to_string` first):
  /// "[redacted]" or "[empty]".
  friend std::string to_string(const secret& s) {
    return s.empty() ? "[empty]" : "[redacted]";
  }

  /// Serialization, for messages that carry a secret between the actors of a
  /// node or, encrypted by TLS, between the nodes of a cluster.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, secret& x) {
    return f(x.value_);
  }

private:
  /// Overwrites every byte the string owns (up to its capacity), then empties it.
  void wipe() noexcept;

  std::string value_;
};

} // namespace hm
