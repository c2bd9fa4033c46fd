#include "profiles/dotenv.hpp"

#include "profiles/dotenv_scan.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace hm::profiles {

namespace {

bool plain_char(char c) {
  auto u = static_cast<unsigned char>(c);
  // Unquoted values have no escapes, so a backslash is literal there.
  return u > 0x20 && u != 0x7F && c != '"' && c != '\'' && c != '#' && c != '$';
}

} // namespace

std::optional<std::string> quote_dotenv_value(std::string_view value) {
  if (value.find('\0') != std::string_view::npos ||
      detail::invalid_utf8_at(value) != std::string_view::npos)
    return std::nullopt;
  // Hermes interpolates ${...} in every value, quoted or not, and dotenv has no escape
  // for it: such a value would not read back as written.
  if (auto at = value.find("${"); at != std::string_view::npos &&
                                  value.find('}', at) != std::string_view::npos)
    return std::nullopt;
  bool plain = true;
  for (char c : value)
    plain = plain && plain_char(c);
  if (plain)
    return std::string(value);
  // Single quotes are literal apart from \\ and \'; usable when neither occurs and the
  // value stays on one line.
  if (value.find_first_of("'\\\r\n") == std::string_view::npos)
    return "'" + std::string(value) + "'";
  // python-dotenv's double-quote pattern lets an escaped backslash right before the
  // closing quote escape that quote instead, so a value ending in '\' cannot be written.
  if (!value.empty() && value.back() == '\\')
    return std::nullopt;
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += c; break;
    }
  }
  out += '"';
  return out;
}

std::string with_dotenv_key(std::string_view text, std::string_view key, std::string_view value) {
  problems ignored;
  auto scan = detail::scan_dotenv(text, {}, ignored);
  std::string quoted = quote_dotenv_value(value).value_or(std::string{});
  const detail::dotenv_binding* last = nullptr;
  for (const auto& b : scan.bindings)
    if (b.key == key)
      last = &b;
  std::string out;
  if (last != nullptr) {
    // Keep `export `, any indentation and a trailing comment; replace name and value.
    std::string_view tail = text.substr(last->value_end, last->content_end - last->value_end);
    // `KEY= # note` would read as "# note" (python-dotenv 1.2.2), so an empty value
    // before a kept comment is written as ''.
    if (quoted.empty() && tail.find('#') != std::string_view::npos)
      quoted = "''";
    out.reserve(text.size() + quoted.size());
    out.append(text.substr(0, last->key_start));
    out.append(key);
    out += '=';
    out += quoted;
    if (!tail.empty() && tail.front() != ' ' && tail.front() != '\t')
      out += ' '; // a comment glued to a quoted value must not join an unquoted one
    out.append(tail);
    out.append(text.substr(last->content_end));
    return out;
  }
  // Append, with the line end the file already uses.
  std::string_view eol = "\n";
  std::size_t first = text.find_first_of("\r\n");
  if (first != std::string_view::npos && text[first] == '\r')
    eol = (first + 1 < text.size() && text[first + 1] == '\n') ? "\r\n" : "\r";
  out.assign(text);
  if (!out.empty() && out.back() != '\n' && out.back() != '\r')
    out.append(eol);
  out.append(key);
  out += '=';
  out += quoted;
  out.append(eol);
  return out;
}

namespace {

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace

hm::expected<void> write_dotenv_key(const std::filesystem::path& path, std::string_view key,
                                    std::string_view value) {
  return write_dotenv_keys(path, {{key, value}});
}

hm::expected<void>
write_dotenv_keys(const std::filesystem::path& path,
                  const std::vector<std::pair<std::string_view, std::string_view>>& keys) {
  namespace fs = std::filesystem;
  for (auto& [key, value] : keys) {
    if (!detail::portable_key(key))
      return fail(error_code::invalid_input,
                  "cannot write a key that is not of the form [A-Za-z_][A-Za-z0-9_.]*");
    if (!quote_dotenv_value(value))
      return fail(error_code::invalid_input,
                  "cannot write the value of " + std::string(key)
                    + ": it contains a NUL byte, invalid UTF-8 or ${...}, or it needs double "
                      "quotes and ends in a backslash");
  }

  // Write next to the real file when .env is a symlink, so the link stays a link.
  std::error_code ec;
  fs::path target = path;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    fs::path resolved = fs::canonical(path, ec);
    if (ec)
      return fail(error_code::io,
                  "cannot resolve the symlink " + path.string() + ": " + ec.message());
    target = resolved;
  }

  std::string text;
  mode_t mode = 0600;
  struct stat st{};
  bool existed = ::stat(target.c_str(), &st) == 0;
  if (existed) {
    mode = st.st_mode & 07777;
    std::ifstream in(target, std::ios::binary);
    if (!in)
      return fail(error_code::io,
                  errno_text(("cannot read " + target.string()).c_str(), errno));
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0)
      text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (in.bad())
      return fail(error_code::io, "cannot read " + target.string());
  } else if (errno != ENOENT) {
    return fail(error_code::io, errno_text(("cannot stat " + target.string()).c_str(), errno));
  }

  std::string next = std::move(text);
  for (auto& [key, value] : keys)
    next = with_dotenv_key(next, key, value);

  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data()); // created 0600, so no content is ever readable by others
  if (fd < 0)
    return fail(error_code::io,
                errno_text(("cannot create a temporary file in " + dir.string()).c_str(), errno));
  auto give_up = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    return fail(error_code::io, errno_text(what, err));
  };
  // Mode (and owner, where we may) before any content is written.
  if (::fchmod(fd, mode) != 0)
    return give_up("cannot set the mode of the temporary file");
  if (existed && (st.st_uid != ::geteuid() || st.st_gid != ::getegid()))
    (void)::fchown(fd, st.st_uid, st.st_gid); // best effort: only root may give files away
  if (!write_all(fd, next))
    return give_up("cannot write the temporary file");
  if (::fsync(fd) != 0)
    return give_up("cannot fsync the temporary file");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return fail(error_code::io, errno_text("cannot close the temporary file", err));
  }
  if (::rename(tmpl.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return fail(error_code::io, errno_text(("cannot replace " + target.string()).c_str(), err));
  }
  // The rename is durable only once the directory entry is on disk.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fail(error_code::io,
                errno_text(("cannot open " + dir.string() + " to fsync it").c_str(), errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0)
    return fail(error_code::io, errno_text(("cannot fsync " + dir.string()).c_str(), err));
  return {};
}

} // namespace hm::profiles
