#pragma once

// Files that hold secrets or a profile's private state (stores, keys, tokens, logs),
// opened so that another local user cannot read them, plant them beforehand, or
// redirect them with a symbolic link. A name is only as safe as the folders it is
// in: a folder others may write to lets them swap a checked file for another, so
// the folders are checked too.

#include "errors/error.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace hm::store {

/// What is wrong with the open file `fd` as a private file: not a regular file, owned
/// by another user, or open to group or others (mode & 077). nullopt when fine. The
/// answer is a phrase to follow the file's name ("belongs to another user (uid 1000)").
[[nodiscard]] std::optional<std::string> private_file_problem(int fd);

/// What is wrong with `dir` as a folder of private files: missing, not a folder, owned
/// by another user, or writable by others (profiles::others_may_write). A symbolic link
/// is judged by the folder it leads to.
[[nodiscard]] std::optional<std::string> private_dir_problem(const std::filesystem::path& dir);

/// Creates `dir` (and missing parents) with mode 0700; folders that exist are left as
/// they are. An io error naming the folder on failure.
[[nodiscard]] hm::expected<void> make_private_dir(const std::filesystem::path& dir);

/// An open file descriptor, or why there is none.
struct opened_file {
  int fd = -1;
  std::string error; ///< a sentence naming the file and what to do; empty when fd >= 0
};

/// Opens `path` read-write (O_NOFOLLOW: a symbolic link there is refused, never
/// followed), creating it with mode 0600 when missing, and checks it with
/// private_file_problem (a file of ours is made 0600 first; one that stays open to
/// others is refused). `what` names the file in errors ("the store").
[[nodiscard]] opened_file open_private_file(const std::filesystem::path& path,
                                            std::string_view what);

/// Writes all of `text` to `fd`; false on a short write or an error (see errno).
[[nodiscard]] bool write_all(int fd, std::string_view text);

/// Creates `path` with `text`, mode 0600, only when nothing is there (O_EXCL, and
/// O_NOFOLLOW: a link is never followed), synced to disk with its folder. An io error
/// naming the file (never holding `text`); error_code::exists (message "exists") when a
/// file (or a link) is there already.
[[nodiscard]] hm::expected<void> create_secret_file(const std::filesystem::path& path,
                                                    std::string_view text, std::string_view what);

/// The text of a secret file (a token, a shared secret), surrounding whitespace trimmed;
/// refused like open_private_file (but never created or chmod-ed: the person chose it)
/// and when shorter than `min_chars`.
struct secret_text {
  std::string value;
  std::string error; ///< names the file, never holds its contents; empty when fine
};
[[nodiscard]] secret_text read_secret_file(const std::filesystem::path& path,
                                           std::string_view what, std::size_t min_chars);

/// The whole text of a private file of several lines (a PEM private key), at most
/// 64 KiB, refused like read_secret_file.
[[nodiscard]] secret_text read_private_text(const std::filesystem::path& path,
                                            std::string_view what);

} // namespace hm::store
