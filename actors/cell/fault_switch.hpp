#pragma once

// The test-only fault switch. The shipped binary `hermes-matrix` never installs a
// hook, so `fault_point` does nothing there and no code that injects a fault is
// linked into it. `hermes-matrix-faulty` (built only with the tests, HM_FAULT_SWITCH)
// installs one (actors/cell/fault_switch_hook.cpp) so that fault tests can make one
// profile's actors throw or fail an internal check while the others keep running.

#include <caf/error.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace hm {

/// Called by a profile actor before it acts on a message. It may throw (an
/// exception inside the actor) or return an error (an internal check that failed:
/// the actor quits with it); nullopt lets the message through.
using fault_hook = std::optional<caf::error> (*)(const std::filesystem::path& profile_dir);

/// Installs the hook; called once, before the actor system starts.
void install_fault_hook(fault_hook hook);

/// What the installed hook decides; nullopt when none is installed (release builds).
std::optional<caf::error> fault_point(const std::filesystem::path& profile_dir);

/// Test builds: the cluster app identifier this node announces instead of its
/// own, to play a node of another cluster protocol version. Installed once,
/// before the actor system starts.
void install_cluster_app_id_override(std::string app_id);

/// The installed override; empty when none is installed (release builds).
const std::string& cluster_app_id_override();

} // namespace hm
