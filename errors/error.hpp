#pragma once

// hm::error: why something below the actors did not work, as a code the caller can
// branch on and a message a user can act on. Never a secret in the message (no token,
// password, key or pickle): it ends up in logs and in answers to the admin API.
//
// Not to be confused with messages/errors.hpp's hm::errc: that is the CAF error
// category of the actors' edge (why a cell stops, what the supervisor does about it).
// An actor that meets an hm::error decides which errc it becomes.

#include "errors/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace hm {

/// What the caller can do about an error; the codes are named after that, and each is
/// one some caller below the actors meets (add one when a caller needs to tell it apart).
enum class error_code : uint8_t {
  /// The input is wrong (a request, a setting, a file's content a person wrote): fix it
  /// and ask again; asking again unchanged fails the same way.
  invalid_input,
  /// The operating system or SQLite failed to read or write (disk full, permissions,
  /// a lock held elsewhere): may work later or once the machine is fixed.
  io,
  /// Stored data is damaged or not ours (a truncated file, a store replaced under us):
  /// restore it or start afresh; retrying does not help.
  corrupt,
  /// What was to be created is there already (a file made once): use it, or move it
  /// away first.
  exists,
  /// Refused on purpose (a file others may read, a key that does not open the store,
  /// a peer without the secret): only a change of what is presented helps.
  refused,
  /// Well-formed but not something this build does (an unknown version or algorithm).
  unsupported,
};

[[nodiscard]] constexpr std::string_view to_string(error_code c) noexcept {
  switch (c) {
    case error_code::invalid_input: return "invalid_input";
    case error_code::io: return "io";
    case error_code::corrupt: return "corrupt";
    case error_code::exists: return "exists";
    case error_code::refused: return "refused";
    case error_code::unsupported: return "unsupported";
  }
  return "unknown";
}

struct error {
  error_code code = error_code::io;
  /// One sentence for a person: what failed and, where we know it, what to do.
  std::string message;
};

/// `return hm::fail(error_code::io, "cannot open " + path);` — the error of an
/// hm::expected<T> of any T.
[[nodiscard]] inline unexpected<error> fail(error_code code, std::string message) {
  return unexpected<error>{error{code, std::move(message)}};
}

} // namespace hm
