#include "store/private_file.hpp"

#include "profiles/file_access.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hm::store {

namespace {

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string owner_problem(const struct stat& st) {
  return "belongs to another user (uid " + std::to_string(st.st_uid) + ")";
}

std::string open_error(const std::filesystem::path& path, std::string_view what, int err) {
  if (err == ELOOP)
    return std::string{what} + " " + path.string()
           + " is a symbolic link; hermes-matrix does not follow links for private files: "
             "put the real file there";
  return "cannot open " + std::string{what} + " " + path.string() + ": " + std::strerror(err);
}

} // namespace

std::optional<std::string> private_file_problem(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return std::string{"cannot be examined: "} + std::strerror(errno);
  if (!S_ISREG(st.st_mode))
    return "is not a regular file";
  if (st.st_uid != ::geteuid())
    return owner_problem(st);
  if ((st.st_mode & 077) != 0)
    return "is open to other users (mode " + octal_mode(st.st_mode) + ")";
  return std::nullopt;
}

std::optional<std::string> private_dir_problem(const std::filesystem::path& dir) {
  // A link is followed: a person may well keep a store on another disk. What counts is
  // the folder it leads to (the link itself sits in a folder that is checked too).
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return std::string{"cannot be examined: "} + std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return "is not a folder";
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return owner_problem(st);
  if (profiles::others_may_write(st))
    return "is writable by other users";
  return std::nullopt;
}

hm::expected<void> make_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec))
    return {};
  if (!dir.parent_path().empty() && dir.parent_path() != dir)
    if (auto made = make_private_dir(dir.parent_path()); !made)
      return made;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(error_code::io, "cannot create " + dir.string() + ": " + std::strerror(errno));
  return {};
}

opened_file open_private_file(const std::filesystem::path& path, std::string_view what) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return {-1, open_error(path, what, errno)};
  // Whatever the umask made of a new file; a file of ours someone loosened is tightened.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0)
    (void) ::fchmod(fd, 0600);
  if (auto why = private_file_problem(fd)) {
    ::close(fd);
    return {-1, std::string{what} + " " + path.string() + " " + *why
                  + "; move it away (hermes-matrix makes a private one) or make it yours "
                    "and private (chown, chmod 600)"};
  }
  return {fd, {}};
}

bool write_all(int fd, std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

hm::expected<void> create_secret_file(const std::filesystem::path& path, std::string_view text,
                                      std::string_view what) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    auto err = errno;
    if (err == EEXIST)
      return fail(error_code::exists, "exists");
    return fail(error_code::io, "cannot create " + std::string{what} + " " + path.string() + ": "
                                  + std::strerror(err));
  }
  ::fchmod(fd, 0600); // whatever the umask
  bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  auto err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return fail(error_code::io, "cannot write " + std::string{what} + " " + path.string() + ": "
                                  + std::strerror(err));
  }
  int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

secret_text read_private_text(const std::filesystem::path& path, std::string_view what) {
  std::string where = std::string{what} + " " + path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return {{}, open_error(path, what, errno)};
  if (auto why = private_file_problem(fd)) {
    ::close(fd);
    return {{}, where + " " + *why + "; make it yours and private (chmod 600)"};
  }
  constexpr std::size_t max_bytes = 64 * 1024; // a key or a token, not a data file
  std::string text(max_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) {
    ::explicit_bzero(text.data(), text.size());
    return {{}, where + " is larger than 64 KiB; it should hold one secret"};
  }
  // The secret stays in this one buffer: what follows it is wiped before the resize.
  ::explicit_bzero(text.data() + got, text.size() - got);
  text.resize(got);
  return {std::move(text), {}};
}

secret_text read_secret_file(const std::filesystem::path& path, std::string_view what,
                             std::size_t min_chars) {
  std::string where = std::string{what} + " " + path.string();
  auto read = read_private_text(path, what);
  if (!read.error.empty())
    return read;
  auto& text = read.value;
  // Trimmed in place, and wiped on every way out but the value returned (which the
  // caller wipes when it is done, if it can).
  auto refuse = [&](std::string why) {
    ::explicit_bzero(text.data(), text.size());
    return secret_text{{}, std::move(why)};
  };
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return refuse(where + " is empty; put a long random secret in it");
  auto length = text.find_last_not_of(" \t\r\n") - first + 1;
  std::memmove(text.data(), text.data() + first, length);
  ::explicit_bzero(text.data() + length, text.size() - length);
  text.resize(length);
  if (text.find_first_of(" \t\r\n") != std::string::npos)
    return refuse(where + " holds more than one line or word");
  if (text.size() < min_chars)
    return refuse(where + " is too short; use at least " + std::to_string(min_chars)
                  + " random characters (e.g. openssl rand -hex 32)");
  return read;
}

} // namespace hm::store
