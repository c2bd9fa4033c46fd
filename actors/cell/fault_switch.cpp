#include "actors/cell/fault_switch.hpp"

namespace hm {

namespace {

// Set once by the test binary's main before any actor runs; read-only afterwards.
fault_hook installed = nullptr;
std::string app_id_override;

} // namespace

void install_fault_hook(fault_hook hook) {
  installed = hook;
}

std::optional<caf::error> fault_point(const std::filesystem::path& profile_dir) {
  if (installed == nullptr)
    return std::nullopt;
  return installed(profile_dir);
}

void install_cluster_app_id_override(std::string app_id) {
  app_id_override = std::move(app_id);
}

const std::string& cluster_app_id_override() {
  return app_id_override;
}

} // namespace hm
