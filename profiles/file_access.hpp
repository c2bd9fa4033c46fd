#pragma once

// Who besides the owner may change a file or folder: the one rule `check`, the store
// and the key files share.

#include <sys/stat.h>
#include <unistd.h>

namespace hm::profiles {

/// True when users other than the owner may write what `st` describes: it is
/// world-writable, or group-writable for a group that is not the user's own (with a
/// user-private group, as umask 002 assumes, the group is the user alone).
[[nodiscard]] inline bool others_may_write(const struct stat& st) noexcept {
  return (st.st_mode & S_IWOTH) != 0 || ((st.st_mode & S_IWGRP) != 0 && st.st_gid != ::getegid());
}

} // namespace hm::profiles
