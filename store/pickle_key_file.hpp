#pragma once

// Where a profile's pickle key comes from: MATRIX_PICKLE_KEY when the profile sets it,
// else a key file beside the store, generated on first use. Never from the database
// the pickles live in (a copied database alone must reveal no session), and never in
// a log line or an error text.

#include <filesystem>
#include <string>

#include "errors/error.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "profiles/secret.hpp"

namespace hm {

/// The key file of the store at `store_path` (hermes-matrix.db → hermes-matrix.pickle-key).
[[nodiscard]] std::filesystem::path pickle_key_path_for(const std::filesystem::path& store_path);

/// The pickle key: `configured` when not empty (at least 16 bytes), else the key file
/// for `store_path`: read when it exists (it must be mode 0600 and hold 32 bytes as
/// base64), created otherwise with 32 random bytes, mode 0600, atomically (written to
/// a temporary file, then linked into place, so that a crash or a second process never
/// leaves or reads a half-written key). Errors are user-facing sentences without the key.
[[nodiscard]] hm::expected<matrix::crypto::pickle_key>
load_pickle_key(const secret& configured, const std::filesystem::path& store_path);

} // namespace hm
