#include "profiles/discovery.hpp"

#include <algorithm>
#include <cstdlib>
#include <pwd.h>
#include <unistd.h>

namespace hm::profiles {

namespace fs = std::filesystem;

namespace {

problem make(problem::severity level, fs::path file, std::string message, std::string fix) {
  problem p;
  p.level = level;
  p.file = std::move(file);
  p.message = std::move(message);
  p.fix = std::move(fix);
  return p;
}

} // namespace

fs::path default_hermes_home() {
  if (const char* env = std::getenv("HERMES_HOME"); env != nullptr && *env != '\0')
    return fs::path(env);
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr)
      home = pw->pw_dir;
  }
  return fs::path(home != nullptr ? home : ".") / ".hermes";
}

bool valid_profile_name(std::string_view name) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 64 || !lower_alnum(name.front()))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_alnum(c) || c == '_' || c == '-'; });
}

discovery discover_profiles(const fs::path& hermes_home) {
  discovery out;
  std::error_code ec;
  if (!fs::is_directory(hermes_home, ec)) {
    out.issues.push_back(make(problem::severity::error, hermes_home,
                              ec ? "cannot be read: " + ec.message() : "is not a directory",
                              "set HERMES_HOME to your Hermes home (default ~/.hermes)"));
    return out;
  }
  out.found.push_back(profile_dir{"default", hermes_home});
  fs::path root = hermes_home / "profiles";
  if (!fs::exists(root, ec))
    return out;
  fs::directory_iterator it(root, ec);
  if (ec) {
    out.issues.push_back(make(problem::severity::error, root, "cannot be read: " + ec.message(),
                              "check its permissions"));
    return out;
  }
  std::vector<profile_dir> named;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      out.issues.push_back(make(problem::severity::error, root,
                                "cannot be listed completely: " + ec.message(),
                                "check its permissions"));
      break;
    }
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec))
      continue; // files beside the profiles are not profiles
    std::string name = it->path().filename().string();
    if (!valid_profile_name(name)) {
      out.issues.push_back(make(problem::severity::warning, it->path(),
                                "'" + name + "' is not a valid profile name (^[a-z0-9][a-z0-9_-]{0,63}$), so it is skipped",
                                "rename the directory if it is a profile"));
      continue;
    }
    named.push_back(profile_dir{std::move(name), it->path()});
  }
  std::sort(named.begin(), named.end(),
            [](const profile_dir& a, const profile_dir& b) { return a.name < b.name; });
  for (auto& p : named)
    out.found.push_back(std::move(p));
  return out;
}

discovery select_profiles(discovery all, const std::vector<std::string>& names) {
  if (names.empty())
    return all;
  std::string known;
  for (const auto& p : all.found)
    known += (known.empty() ? "" : ", ") + p.name;
  discovery out;
  out.issues = std::move(all.issues);
  for (auto& p : all.found)
    if (std::find(names.begin(), names.end(), p.name) != names.end())
      out.found.push_back(std::move(p));
  for (const auto& name : names) {
    bool present = std::any_of(out.found.begin(), out.found.end(),
                               [&](const profile_dir& p) { return p.name == name; });
    if (present)
      continue;
    out.issues.push_back(make(problem::severity::error, {},
                              "no profile named '" + name + "'",
                              "profiles found: " + (known.empty() ? std::string("none") : known)));
  }
  return out;
}

profile_set load_profiles(const fs::path& hermes_home, const std::vector<std::string>& names) {
  profile_set out;
  out.hermes_home = hermes_home;
  discovery d = select_profiles(discover_profiles(hermes_home), names);
  out.issues = std::move(d.issues);
  for (const auto& p : d.found)
    out.profiles.push_back(load_profile(p.name, p.dir));
  check_across_profiles(out.profiles);
  return out;
}

} // namespace hm::profiles
