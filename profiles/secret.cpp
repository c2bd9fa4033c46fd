#include "profiles/secret.hpp"

#include <cstring>
#include <ostream>

namespace hm {

void secret::wipe() noexcept {
  // Grow to the full capacity first (no reallocation, fills with '\0'), so the
  // bytes between size() and capacity() left over from earlier, longer values are
  // covered too; then explicit_bzero, which the optimizer may not drop as a dead store.
  value_.resize(value_.capacity());
  explicit_bzero(value_.data(), value_.size());
  value_.clear();
}

secret::secret(secret&& other) noexcept : value_(std::move(other.value_)) {
  // A short value lives inside `other` (small-string buffer) and stays there after
  // the move; wipe it.
  other.wipe();
}

secret& secret::operator=(const secret& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

secret& secret::operator=(secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = std::move(other.value_);
    other.wipe();
  }
  return *this;
}

secret::~secret() { wipe(); }

std::ostream& operator<<(std::ostream& os, const secret& s) {
  return os << (s.empty() ? "[empty]" : "[redacted]");
}

} // namespace hm
