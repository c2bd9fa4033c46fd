// MATRIX_IGNORE_USER_PATTERNS matching lives in its own file for the same reason as
// regex_syntax.cpp: with -fsanitize GCC 12 reports a false -Wmaybe-uninitialized inside
// <regex>, and the pragma must come before the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "profiles/policy.hpp"

#include <regex>
#include <string>

namespace hm::profiles {

bool sender_ignored(const profile_config& config, std::string_view user_id) {
  // Hermes: `any(pattern.search(sender) for pattern in self._ignored_user_patterns)`,
  // so `^@telegram_` anchors itself and `bot` matches anywhere in the id. The patterns are
  // compiled per call: a profile has a handful, and a cache would be state in a module
  // that has none.
  const std::string sender(user_id);
  for (const auto& pattern : config.ignore_user_patterns) {
    try {
      if (std::regex_search(sender, std::regex(pattern, std::regex::ECMAScript)))
        return true;
    } catch (const std::regex_error&) {
      // make_profile reports the pattern; a broken one ignores nobody.
    }
  }
  return false;
}

} // namespace hm::profiles
