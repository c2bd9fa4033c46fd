#pragma once

// hm::expected<T, E>: a value, or why there is none. The subset of C++23's std::expected
// that we use, with the same names and meaning, so that moving to C++23 is a
// using-declaration (`template <class T, class E> using expected = std::expected<T, E>;`
// and the same for unexpected). Code that compiles against this must compile against std.
//
// Stored as an optional plus an E (not a std::variant): GCC 12's -Wnull-dereference
// fires at every std::get_if on a variant, and the union of std::expected is more than
// we need. The cost is that E must be default-constructible (it is for every error type
// of ours) and that error() on a value reads a default E instead of being undefined.
//
// Differences from std::expected, none visible to correct code: value() throws
// std::bad_optional_access rather than std::bad_expected_access<E>; no monadic
// operations (and_then, transform, ...), no emplace, no swap, no comparisons.

#include <optional>
#include <type_traits>
#include <utility>

namespace hm {

/// The error of an expected, wrapped so that it cannot be taken for a value:
/// `return hm::unexpected{some_error};`.
template <class E>
class unexpected {
public:
  template <class Err = E>
    requires(!std::is_same_v<std::remove_cvref_t<Err>, unexpected> &&
             !std::is_same_v<std::remove_cvref_t<Err>, std::in_place_t> &&
             std::is_constructible_v<E, Err>)
  constexpr explicit unexpected(Err&& e) : error_(std::forward<Err>(e)) {}

  [[nodiscard]] constexpr const E& error() const& noexcept { return error_; }
  [[nodiscard]] constexpr E& error() & noexcept { return error_; }
  [[nodiscard]] constexpr E&& error() && noexcept { return std::move(error_); }

private:
  E error_;
};

template <class E>
unexpected(E) -> unexpected<E>;

namespace detail {
template <class U>
inline constexpr bool is_unexpected = false;
template <class E>
inline constexpr bool is_unexpected<unexpected<E>> = true;
} // namespace detail

struct error; // error.hpp

template <class T, class E = error>
class expected {
public:
  using value_type = T;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  constexpr expected()
    requires std::is_default_constructible_v<T>
      : value_(std::in_place) {}

  /// A value (implicit when U converts to T, as in std).
  template <class U = T>
    requires(!std::is_same_v<std::remove_cvref_t<U>, expected> &&
             !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t> &&
             !detail::is_unexpected<std::remove_cvref_t<U>> && std::is_constructible_v<T, U>)
  constexpr explicit(!std::is_convertible_v<U, T>) expected(U&& v)
      : value_(std::in_place, std::forward<U>(v)) {}

  template <class... Args>
    requires std::is_constructible_v<T, Args...>
  constexpr explicit expected(std::in_place_t, Args&&... args)
      : value_(std::in_place, std::forward<Args>(args)...) {}

  /// An error.
  template <class G>
    requires std::is_constructible_v<E, const G&>
  constexpr explicit(!std::is_convertible_v<const G&, E>) expected(const unexpected<G>& u)
      : error_(u.error()) {}
  template <class G>
    requires std::is_constructible_v<E, G>
  constexpr explicit(!std::is_convertible_v<G, E>) expected(unexpected<G>&& u)
      : error_(std::move(u).error()) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return value_.has_value(); }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  /// Throws (std::bad_optional_access) when there is no value; check first.
  [[nodiscard]] constexpr T& value() & { return value_.value(); }
  [[nodiscard]] constexpr const T& value() const& { return value_.value(); }
  [[nodiscard]] constexpr T&& value() && { return std::move(value_.value()); }
  [[nodiscard]] constexpr const T&& value() const&& { return std::move(value_.value()); }

  /// Precondition: has_value().
  [[nodiscard]] constexpr T& operator*() & noexcept { return *value_; }
  [[nodiscard]] constexpr const T& operator*() const& noexcept { return *value_; }
  [[nodiscard]] constexpr T&& operator*() && noexcept { return std::move(*value_); }
  [[nodiscard]] constexpr T* operator->() noexcept { return &*value_; }
  [[nodiscard]] constexpr const T* operator->() const noexcept { return &*value_; }

  /// Meaningful when !has_value().
  [[nodiscard]] constexpr const E& error() const& noexcept { return error_; }
  [[nodiscard]] constexpr E& error() & noexcept { return error_; }
  [[nodiscard]] constexpr E&& error() && noexcept { return std::move(error_); }

  template <class U>
  [[nodiscard]] constexpr T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  [[nodiscard]] constexpr T value_or(U&& fallback) && {
    return value_ ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
  }

private:
  std::optional<T> value_;
  E error_{};
};

/// Success without a value, or why not.
template <class E>
class expected<void, E> {
public:
  using value_type = void;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  constexpr expected() noexcept = default;

  template <class G>
    requires std::is_constructible_v<E, const G&>
  constexpr explicit(!std::is_convertible_v<const G&, E>) expected(const unexpected<G>& u)
      : failed_(true), error_(u.error()) {}
  template <class G>
    requires std::is_constructible_v<E, G>
  constexpr explicit(!std::is_convertible_v<G, E>) expected(unexpected<G>&& u)
      : failed_(true), error_(std::move(u).error()) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return !failed_; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  /// Throws (std::bad_optional_access) on an error, as std's throws; check first.
  constexpr void value() const {
    if (failed_)
      throw std::bad_optional_access{};
  }
  constexpr void operator*() const noexcept {}

  /// Meaningful when !has_value().
  [[nodiscard]] constexpr const E& error() const& noexcept { return error_; }
  [[nodiscard]] constexpr E& error() & noexcept { return error_; }
  [[nodiscard]] constexpr E&& error() && noexcept { return std::move(error_); }

private:
  bool failed_ = false;
  E error_{};
};

} // namespace hm
