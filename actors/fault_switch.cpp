#include "actors/fault_switch.hpp"

namespace hm {

namespace {

// Set once by the test binary's main before any actor runs; read-only afterwards.
fault_hook installed = nullptr;

} // namespace

void install_fault_hook(fault_hook hook) {
  installed = hook;
}

std::optional<caf::error> fault_point(const std::filesystem::path& profile_dir) {
  if (installed == nullptr)
    return std::nullopt;
  return installed(profile_dir);
}

} // namespace hm
