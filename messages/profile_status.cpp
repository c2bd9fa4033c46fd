#include "messages/profile_status.hpp"

namespace hm {

const char* to_string(profile_state s) {
  switch (s) {
    case profile_state::starting: return "starting";
    case profile_state::running: return "running";
    case profile_state::backoff: return "backoff";
    case profile_state::stopped: return "stopped";
    case profile_state::failed: return "failed";
    case profile_state::invalid: return "invalid";
    case profile_state::waiting: return "waiting";
  }
  return "unknown";
}

} // namespace hm
