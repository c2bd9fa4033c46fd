// Test builds only (hermes-matrix-faulty, HM_FAULT_SWITCH): the hook behind the
// fault switch. A test arms it by writing a word into the profile's
// `hermes-matrix.fault` file; the next message that profile acts on consumes the
// file (so the restarted cell recovers by itself) and:
//   throw   an exception escapes the profile actor;
//   assert  an internal check fails: the actor quits with errc::injected_fault.
// HM_FAULT_CLUSTER_APP_ID=ID in the environment makes the node announce another
// cluster app identifier: a node of another cluster protocol version.

#include "actors/cell/fault_switch.hpp"

#include "messages/errors.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace hm {

namespace {

std::optional<caf::error> file_armed_fault(const std::filesystem::path& profile_dir) {
  auto armed = profile_dir / "hermes-matrix.fault";
  std::ifstream in{armed};
  if (!in)
    return std::nullopt;
  std::string word;
  in >> word;
  in.close();
  std::error_code ec;
  std::filesystem::remove(armed, ec); // consumed: one fault per arming
  if (word == "throw")
    throw std::runtime_error("injected fault: an exception in the profile actor");
  if (word == "assert")
    return make_error(errc::injected_fault, "injected fault: an internal check failed");
  return std::nullopt;
}

} // namespace

void install_test_fault_switch() {
  install_fault_hook(file_armed_fault);
  if (const char* app_id = std::getenv("HM_FAULT_CLUSTER_APP_ID"))
    install_cluster_app_id_override(app_id);
}

} // namespace hm
