#pragma once

#include <caf/meta/type_name.hpp>

#include <string>

namespace hm {

/// A message for a profile's home room from outside Matrix (the admin API's
/// POST /v1/profiles/{name}/notify: cron jobs, scripts).
struct notification {
  std::string body;   ///< the text
  std::string format; ///< "" (plain text) or "markdown"
  /// The caller's idempotency key ("" for none): the same key gives the same txn id,
  /// so a retried request is queued (and shown) once.
  std::string key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification& x) {
  return f(caf::meta::type_name("notification"), x.body, x.format, x.key);
}

} // namespace hm
