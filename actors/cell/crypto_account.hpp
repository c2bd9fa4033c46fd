#pragma once

// This device's Olm account, loaded from the profile store or created on first start.
// The crypto actor's first step; kept apart so that it can be tested without actors.

#include <string>
#include <variant>

#include <caf/error.hpp>

#include "store/profile_store.hpp"
#include "matrix/crypto/account.hpp"
#include "matrix/crypto/pickle_key.hpp"

namespace hm {

/// The stored account of (`user_id`, `device_id`), or a new one committed before it is
/// returned (so that keys we later upload are always keys we still have). Errors:
/// errc::bad_pickle_key (the pickle was made with another key), errc::device_mismatch
/// (the store belongs to another user or device), errc::store_failed (unreadable
/// pickle, commit failed), errc::internal (libolm could not create an account).
[[nodiscard]] std::variant<matrix::crypto::account, caf::error>
load_or_create_account(profile_store& store, const matrix::crypto::pickle_key& key,
                       const std::string& user_id, const std::string& device_id);

} // namespace hm
