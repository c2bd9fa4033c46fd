#pragma once

// The recovery key of a key backup hermes-matrix created (MATRIX_KEY_BACKUP=create,
// no MATRIX_RECOVERY_KEY): written once beside the store, mode 0600, for the user to
// move into MATRIX_RECOVERY_KEY; read on later starts while it is there. Its text
// never reaches a log line or an error.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "store/private_file.hpp"

namespace hm {

/// The file beside the store at `store_path` (hermes-matrix.db → hermes-matrix.recovery-key).
[[nodiscard]] std::filesystem::path recovery_key_path_for(const std::filesystem::path& store_path);

/// Writes `recovery_key` to `path` once (never over an existing file or link). An
/// error without the key; error_code::exists when something is there already.
[[nodiscard]] hm::expected<void> write_recovery_key_file(const std::filesystem::path& path,
                                                         std::string_view recovery_key);

/// The recovery key in `path`: refused (the error names the file, never the key) when
/// it is a link, another user's, open to others or empty.
[[nodiscard]] store::secret_text read_recovery_key_file(const std::filesystem::path& path);

} // namespace hm
