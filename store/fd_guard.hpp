#pragma once

// A file descriptor closed when it goes out of scope, so that no early return of the
// file code in store/ leaks one.

#include <unistd.h>

namespace hm::store {

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace hm::store
