#include "profiles/problem.hpp"

#include <algorithm>

namespace hm::profiles {

std::string problem::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file.string();
    if (line > 0)
      out += ':' + std::to_string(line);
    out += ": ";
  }
  if (level == severity::warning)
    out += "warning: ";
  if (!key.empty())
    out += key + ": ";
  out += message;
  if (!fix.empty())
    out += "; " + fix;
  return out;
}

bool has_errors(const problems& ps) {
  return std::any_of(ps.begin(), ps.end(),
                     [](const problem& p) { return p.level == problem::severity::error; });
}

} // namespace hm::profiles
