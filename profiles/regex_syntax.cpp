// std::regex lives in its own file: with -fsanitize GCC 12 reports a false
// -Wmaybe-uninitialized inside <regex>'s std::function members, and a pragma only
// helps when it comes before the header is read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "profiles/identifiers.hpp"

#include <regex>

namespace hm::profiles {

bool valid_ecmascript_regex(const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    return true;
  } catch (const std::regex_error&) {
    return false;
  }
}

} // namespace hm::profiles
