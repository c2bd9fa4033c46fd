#include "store/outgoing_file.hpp"

#include "store/fd_guard.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <fcntl.h>
#include <magic.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hm::store {

namespace fs = std::filesystem;

namespace {

/// "812 bytes", "40 KiB", "12.5 MiB".
std::string size_text(std::uint64_t bytes) {
  char buf[32];
  if (bytes < 1024)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else if (bytes < 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%llu KiB", static_cast<unsigned long long>(bytes / 1024));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

/// One libmagic handle per thread, loaded once: a handle is not safe to share between
/// threads, and loading the database takes milliseconds.
struct magic_handle {
  magic_t cookie = ::magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
  bool loaded = cookie != nullptr && ::magic_load(cookie, nullptr) == 0;
  magic_handle() = default;
  magic_handle(const magic_handle&) = delete;
  magic_handle& operator=(const magic_handle&) = delete;
  ~magic_handle() {
    if (cookie != nullptr)
      ::magic_close(cookie);
  }
};

/// libmagic knows a format by its bytes. Plain-text formats have none, so of a Markdown
/// or CSV file it can only say text/plain, and of Opus in Ogg some versions say
/// application/ogg or application/octet-stream; Matrix clients choose how to show or
/// play a file by its type (a voice message needs audio/ogg). Only such vague answers
/// are refined by the extension: a .png whose bytes are no PNG stays what the bytes say.
struct extension_type {
  std::string_view extension;
  std::string_view mimetype;
};
constexpr std::array<extension_type, 10> extension_types{{
  {"md", "text/markdown"},
  {"markdown", "text/markdown"},
  {"csv", "text/csv"},
  {"tsv", "text/tab-separated-values"},
  {"json", "application/json"},
  {"yaml", "application/yaml"},
  {"yml", "application/yaml"},
  {"ogg", "audio/ogg"},
  {"oga", "audio/ogg"},
  {"opus", "audio/ogg"},
}};

constexpr std::array<std::string_view, 6> vague_types{
  "application/octet-stream", "text/plain", "application/ogg", "application/csv",
  "application/x-empty", "inode/x-empty"};

std::optional<std::string_view> type_of_extension(std::string_view filename) {
  auto dot = filename.rfind('.');
  if (dot == std::string_view::npos)
    return std::nullopt;
  std::string ext;
  for (char c : filename.substr(dot + 1))
    ext += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (auto& known : extension_types)
    if (known.extension == ext)
      return known.mimetype;
  return std::nullopt;
}

/// The root of `roots` that `real` lies in (compared by whole path parts).
std::optional<fs::path> root_of(const fs::path& real, const std::vector<fs::path>& roots) {
  for (auto& root : roots) {
    auto [in_root, in_real] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
    if (in_root == root.end())
      return root;
  }
  return std::nullopt;
}

/// Why `real` (inside `root`) holds a profile's secrets, or nullopt: a hidden file or
/// folder (`.env`, `.ssh/`), Hermes' `auth.json`, a database, a key. A steered agent
/// must not mail out the profile's credentials or its crypto store.
std::optional<std::string> secret_problem(const fs::path& real, const fs::path& root) {
  for (auto& part : real.lexically_relative(root)) {
    auto name = part.string();
    if (name.size() > 1 && name.front() == '.' && name != "..")
      return "it is hidden (" + name
             + "); hidden files and folders hold a profile's secrets and are never sent";
  }
  auto name = real.filename().string();
  auto ext = real.extension().string();
  static constexpr std::array<std::string_view, 8> secret_extensions{
    ".db", ".db-wal", ".db-shm", ".sqlite", ".sqlite3", ".pickle-key", ".pem", ".p12"};
  if (name == "auth.json"
      || std::find(secret_extensions.begin(), secret_extensions.end(), ext)
           != secret_extensions.end())
    return "it holds a profile's credentials or stored state (" + name + ") and is never sent";
  return std::nullopt;
}

/// The canonical roots: HERMES_HOME first, then the extra folders; one that does not
/// exist allows nothing.
std::vector<fs::path> canonical_roots(const fs::path& hermes_home,
                                      const std::vector<fs::path>& extra_roots) {
  std::vector<fs::path> roots;
  std::error_code ec;
  auto add = [&](const fs::path& p) {
    auto real = fs::canonical(p, ec);
    if (!ec)
      roots.push_back(std::move(real));
  };
  add(hermes_home);
  for (auto& extra : extra_roots)
    add(extra);
  return roots;
}

std::string unreadable(int err) {
  if (err == EACCES || err == EPERM)
    return "the service may not read it (permission denied)";
  if (err == ENOENT || err == ENOTDIR)
    return "it does not exist";
  if (err == ELOOP)
    return "it was replaced by a symbolic link while it was being read";
  return std::string{"it cannot be read ("} + std::strerror(err) + ")";
}

} // namespace

std::string sniff_mimetype(std::string_view bytes, std::string_view filename) {
  // libmagic decides from the start of a file; more only costs time.
  constexpr std::size_t sniffed_bytes = 1024 * 1024;
  thread_local magic_handle magic;
  std::string sniffed;
  if (magic.loaded) {
    const char* type = ::magic_buffer(magic.cookie, bytes.data(),
                                      std::min(bytes.size(), sniffed_bytes));
    if (type != nullptr)
      sniffed = type;
  }
  bool vague = sniffed.empty()
               || std::find(vague_types.begin(), vague_types.end(), sniffed) != vague_types.end();
  if (vague) {
    if (auto by_name = type_of_extension(filename))
      return std::string{*by_name};
    if (sniffed.empty() || sniffed.ends_with("x-empty"))
      return "application/octet-stream";
  }
  return sniffed;
}

hm::expected<outgoing_file> read_outgoing_file(const fs::path& requested,
                                               const fs::path& hermes_home,
                                               const std::vector<fs::path>& extra_roots,
                                               std::uint64_t max_bytes) {
  outgoing_file out;
  const std::string& written = requested.native();
  auto refuse = [&](const std::string& why) {
    return fail(error_code::refused, "cannot send " + written + ": " + why);
  };

  fs::path path = requested;
  if (written == "~" || written.starts_with("~/"))
    path = hermes_home / written.substr(std::min<std::size_t>(2, written.size()));
  else if (written.starts_with("~"))
    return refuse("it names another user's home folder; files are sent from this profile's "
                  "HERMES_HOME (~/…)");
  if (!path.is_absolute())
    return refuse("it is not an absolute path; name the file as /… or ~/…");
  out.filename = path.filename().string();

  std::error_code ec;
  auto real = fs::canonical(path, ec);
  if (ec)
    return refuse(ec == std::errc::no_such_file_or_directory ? "it does not exist"
                  : ec == std::errc::permission_denied
                    ? "the service may not reach it (permission denied)"
                    : "it cannot be resolved (" + ec.message() + ")");
  auto leads = real == path ? std::string{} : "it leads to " + real.string() + ", ";
  auto roots = canonical_roots(hermes_home, extra_roots);
  auto root = root_of(real, roots);
  if (!root)
    return refuse(leads + "outside the folders this profile may send files from (its "
                  "HERMES_HOME and the folders it names)");
  if (auto secret = secret_problem(real, *root))
    return refuse(*secret);

  // What canonical() found, looked at without opening it: a device or a FIFO is never
  // opened (opening some devices does something; reading a FIFO may wait forever).
  struct stat seen {};
  if (::stat(real.c_str(), &seen) != 0)
    return refuse(unreadable(errno));
  if (S_ISDIR(seen.st_mode))
    return refuse("it is a folder, not a file");
  if (!S_ISREG(seen.st_mode))
    return refuse("it is not a regular file (a device, FIFO or socket); only files are sent");
  auto too_large = [&](std::uint64_t size) {
    return refuse("it is " + size_text(size) + ", larger than the " + size_text(max_bytes)
                  + " this profile sends");
  };
  if (static_cast<std::uint64_t>(seen.st_size) > max_bytes)
    return too_large(static_cast<std::uint64_t>(seen.st_size));

  // O_NOFOLLOW: a link put in its place since is refused; O_NONBLOCK: a FIFO put there
  // does not make open() wait. What is opened must be the file that was checked.
  fd_guard file{::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)};
  if (file.fd < 0)
    return refuse(unreadable(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0)
    return refuse(unreadable(errno));
  if (!S_ISREG(st.st_mode) || st.st_dev != seen.st_dev || st.st_ino != seen.st_ino)
    return refuse("it changed while it was being read (another file took its place)");
  // A folder on the way may have been swapped for a link: where the open file really
  // is must still be inside the roots (Linux names it in /proc/self/fd).
  std::array<char, PATH_MAX> where{};
  auto proc = "/proc/self/fd/" + std::to_string(file.fd);
  auto n = ::readlink(proc.c_str(), where.data(), where.size() - 1);
  if (n > 0) {
    fs::path opened{std::string{where.data(), static_cast<std::size_t>(n)}};
    auto opened_root = root_of(opened, roots);
    if (!opened_root || secret_problem(opened, *opened_root))
      return refuse("it changed while it was being read (another file took its place)");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return too_large(static_cast<std::uint64_t>(st.st_size));

  // Read with a bound: a file that grows while it is read cannot pass the limit.
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(st.st_size));
  std::array<char, 64 * 1024> chunk{};
  for (;;) {
    auto got = ::read(file.fd, chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return refuse(unreadable(errno));
    if (got == 0)
      break;
    if (bytes.size() + static_cast<std::uint64_t>(got) > max_bytes)
      return refuse("it grew past the " + size_text(max_bytes)
                    + " this profile sends while it was being read");
    bytes.append(chunk.data(), static_cast<std::size_t>(got));
  }
  out.mimetype = sniff_mimetype(bytes, out.filename);
  out.bytes = std::move(bytes);
  return out;
}

} // namespace hm::store
