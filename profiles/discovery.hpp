#pragma once

#include "profiles/config.hpp"
#include "profiles/problem.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hm::profiles {

/// A profile directory found under HERMES_HOME.
struct profile_dir {
  std::string name;          // "default" for HERMES_HOME itself
  std::filesystem::path dir;
};

/// `$HERMES_HOME` if set and not empty, else `~/.hermes`.
[[nodiscard]] std::filesystem::path default_hermes_home();

/// True when `name` matches Hermes' profile name syntax ^[a-z0-9][a-z0-9_-]{0,63}$.
[[nodiscard]] bool valid_profile_name(std::string_view name);

struct discovery {
  std::vector<profile_dir> found; // "default" first, then named profiles sorted by name
  problems issues;                // unreadable home, directories with invalid names
};

/// Finds the default profile (the home itself) and every `profiles/<name>/`.
[[nodiscard]] discovery discover_profiles(const std::filesystem::path& hermes_home);

/// Keeps only the profiles named in `names` (all when empty), in the order found.
/// Unknown names are problems.
[[nodiscard]] discovery select_profiles(discovery all, const std::vector<std::string>& names);

/// Discovery, selection, loading and the cross-profile checks in one call.
struct profile_set {
  std::filesystem::path hermes_home;
  std::vector<loaded_profile> profiles;
  problems issues; // problems not tied to one profile
};
[[nodiscard]] profile_set load_profiles(const std::filesystem::path& hermes_home,
                                        const std::vector<std::string>& names);

} // namespace hm::profiles
