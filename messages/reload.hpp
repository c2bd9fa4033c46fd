#pragma once

// A reload of the node's profiles (SIGHUP): the freshly read profiles go to the
// supervisor, which answers with what it did to each.

#include "profiles/config.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include <memory>
#include <string>
#include <vector>

namespace hm {

/// The profiles as read from disk again, in profile order. Node-local (a reload
/// reads this node's own files), so it travels as an unsafe message type: the
/// configs carry secrets that are never serialized for a reload.
struct profile_reload {
  std::shared_ptr<const std::vector<profiles::loaded_profile>> profiles;
};

/// What a reload did, by profile name.
struct reload_summary {
  std::vector<std::string> added;     ///< new profiles (started when usable)
  std::vector<std::string> removed;   ///< gone from disk: their cells stopped
  std::vector<std::string> changed;   ///< config changed: restarted with the new one
  std::vector<std::string> retried;   ///< unchanged but stopped or failed: started again
  std::vector<std::string> unchanged; ///< left alone: same cell, no restart
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reload_summary& x) {
  return f(caf::meta::type_name("reload_summary"), x.added, x.removed, x.changed,
           x.retried, x.unchanged);
}

} // namespace hm

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hm::profile_reload)
