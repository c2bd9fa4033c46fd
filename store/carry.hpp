#pragma once

// The files of a profile's store when it is carried to another node: what
// the store directory holds (sizes, SHA-256), reading it piece by piece on
// the source, writing and verifying it on the target, and setting the
// source's copy aside. Plain file I/O, no actors, so it is unit-tested alone.
// Errors name the file and the cause, never the content.

#include "errors/error.hpp"
#include "store/carry_pieces.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hm {

/// The largest piece of a file sent in one message.
inline constexpr uint64_t store_piece_max = 1024 * 1024;

/// The directory that holds a profile's store (database, WAL, pickle key, lock).
[[nodiscard]] std::filesystem::path store_dir_for(const std::filesystem::path& profile_dir);

/// Every file to carry from the store directory `dir` (all regular files but the
/// lock file, which is the holder's own), with size and SHA-256. No directory: no files.
[[nodiscard]] hm::expected<std::vector<store_file>>
describe_store(const std::filesystem::path& dir);

/// Up to `max` bytes of `dir/name` from `offset`.
[[nodiscard]] hm::expected<std::string>
read_store_piece(const std::filesystem::path& dir, const std::string& name, uint64_t offset,
                 uint64_t max = store_piece_max);

/// Where the pieces of carry `epoch` are written before they are verified.
[[nodiscard]] std::filesystem::path staging_dir_for(const std::filesystem::path& dir,
                                                    uint64_t epoch);

/// Writes one piece into the staging directory of `dir` (created mode 0700,
/// files mode 0600). A piece at offset 0 starts its file afresh.
[[nodiscard]] hm::expected<void> write_store_piece(const std::filesystem::path& dir,
                                                   const store_piece& piece);

/// Verifies the staged files against the manifest (names, sizes, SHA-256),
/// syncs them and puts them in place as `dir`. A store already at `dir` is set
/// aside as `<dir>.replaced-<epoch>`, never deleted.
[[nodiscard]] hm::expected<void> commit_store(const std::filesystem::path& dir,
                                              const store_manifest& manifest);

/// The name the source's copy takes once the target has the store.
[[nodiscard]] std::filesystem::path moved_dir_for(const std::filesystem::path& dir,
                                                  const std::string& node, uint64_t epoch);

/// Renames the store directory to moved_dir_for(...) so that this node can never
/// run the stale copy; nothing is deleted. No directory: nothing to do.
[[nodiscard]] hm::expected<void> set_store_aside(const std::filesystem::path& dir,
                                                 const std::string& node, uint64_t epoch);

/// Marks the store directory as the source of carry `epoch` (a dot file, never
/// carried), so that a target that sees the very same directory (one HERMES_HOME
/// shared without --shared-storage) can tell and refuse.
[[nodiscard]] hm::expected<void> mark_carry_source(const std::filesystem::path& dir,
                                                   uint64_t epoch);

/// Whether `dir` carries the source mark of carry `epoch`.
[[nodiscard]] bool is_carry_source(const std::filesystem::path& dir, uint64_t epoch);

/// Whether `name` is a plain file name a carry may write (no path, no dot names, no
/// lock file).
[[nodiscard]] bool valid_store_file_name(const std::string& name);

} // namespace hm
