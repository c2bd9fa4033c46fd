#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace hm {

/// Why a profile cell (or one of its actors) stopped. The supervisor reads the code
/// to decide between "restart with backoff" and "stop and report"; the message
/// context is a sentence a user can act on and never contains a secret.
enum class errc : uint8_t {
  /// Unused: CAF reserves code 0 for "no error".
  none = 0,
  /// A bug or an unexpected state inside the cell: restart it.
  internal,
  /// The profile's configuration cannot work (bad .env, missing key): fix the
  /// file, then reload. Not restarted.
  bad_config,
  /// The homeserver rejected the access token (M_UNKNOWN_TOKEN): needs a new
  /// token. Not restarted.
  unauthorized,
  /// The profile's store cannot be opened, is locked by another process,
  /// corrupt, or the disk is full. Restarted with backoff (the lock may clear).
  store_failed,
  /// The store or the server says this device is not the one we have keys for.
  /// Not restarted: continuing could corrupt the crypto state.
  device_mismatch,
  /// A homeserver or agent request failed in a way worth retrying.
  transient,
  /// Fault injected by a test build's fault switch.
  injected_fault,
  /// The crypto store's pickles were made with another pickle key (MATRIX_PICKLE_KEY
  /// or the key file changed). Not restarted: only the original key helps.
  bad_pickle_key,
  // Answers to admin API requests (never a reason a cell stops):
  /// No profile of that name on this node.
  unknown_profile,
  /// The profile exists but is not running (starting, backing off, stopped).
  unavailable,
  /// The request itself is malformed (e.g. an empty notification).
  bad_request,
  /// Cluster: the peer did not prove the cluster secret, or has not joined.
  refused,
  /// The request would become more than can be sent (a notification that renders
  /// past what one Matrix event holds).
  too_large,
};

/// The CAF error category of hermes-matrix errors.
inline constexpr caf::atom_value error_category = caf::atom("hermes");

/// Whether the supervisor restarts a cell that stopped with this code.
[[nodiscard]] bool restartable(errc code);

[[nodiscard]] const char* to_string(errc code);

/// `caf::error` with a user-facing message as context.
[[nodiscard]] caf::error make_error(errc code, std::string message);

/// Converts the enum alone (needed by CAF's implicit `error(E)` constructor).
[[nodiscard]] caf::error make_error(errc code);

/// Registered with actor_system_config::add_error_category so that
/// `to_string(caf::error)` reads "hermes.unauthorized: <message>".
[[nodiscard]] std::string render_error(uint8_t code, caf::atom_value category,
                                       const caf::message& context);

/// The user-facing sentence of any error: ours without the category prefix,
/// CAF's own rendered as CAF renders them.
[[nodiscard]] std::string error_text(const caf::error& err);

} // namespace hm
