#include "store/carry.hpp"

#include "store/fd_guard.hpp"
#include "store/profile_store.hpp"

#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace hm {

namespace fs = std::filesystem;
using store::fd_guard;

namespace {

/// "cannot <what> <path>: <errno's text>".
hm::unexpected<hm::error> io_failure(const std::string& what, const fs::path& path) {
  return fail(error_code::io, "cannot " + what + " " + path.string() + ": " + std::strerror(errno));
}

/// fsync of a directory, so that a rename or a new file in it survives a crash.
hm::expected<void> sync_dir(const fs::path& dir) {
  fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0)
    return io_failure("sync", dir);
  return {};
}

/// Size and SHA-256 (hex) of a file, read in pieces.
hm::expected<store_file> hash_file(const fs::path& path) {
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0)
    return io_failure("open", path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return fail(error_code::io, "cannot hash " + path.string() + ": OpenSSL failed");
  store_file out;
  out.name = path.filename().string();
  std::array<char, 64 * 1024> buf{};
  for (;;) {
    auto n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_failure("read", path);
    }
    if (n == 0)
      break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
    out.size += static_cast<uint64_t>(n);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md.data(), &len);
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    out.sha256 += hex[md[i] >> 4];
    out.sha256 += hex[md[i] & 0xf];
  }
  return out;
}

bool is_lock_file(const std::string& name) {
  return name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0;
}

} // namespace

fs::path store_dir_for(const fs::path& profile_dir) {
  return profile_store::path_for(profile_dir).parent_path();
}

bool valid_store_file_name(const std::string& name) {
  // Never a lock file: the lock is the holder's own, and one sent along would be
  // planted in place with the store (describe_store leaves such names out).
  return !name.empty() && name.size() <= 255 && name.front() != '.'
         && name.find('/') == std::string::npos && name.find('\0') == std::string::npos
         && !is_lock_file(name);
}

hm::expected<std::vector<store_file>> describe_store(const fs::path& dir) {
  std::vector<store_file> files;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return files;
  for (auto it = fs::directory_iterator{dir, ec}; !ec && it != fs::directory_iterator{};
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!it->is_regular_file() || !valid_store_file_name(name))
      continue;
    auto hashed = hash_file(it->path());
    if (!hashed)
      return hm::unexpected{std::move(hashed).error()};
    files.push_back(std::move(*hashed));
  }
  if (ec)
    return fail(error_code::io, "cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const store_file& a, const store_file& b) { return a.name < b.name; });
  return files;
}

hm::expected<std::string> read_store_piece(const fs::path& dir, const std::string& name,
                                           uint64_t offset, uint64_t max) {
  auto path = dir / name;
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0)
    return io_failure("open", path);
  std::string bytes(max, '\0');
  size_t got = 0;
  while (got < max) {
    auto n = ::pread(f.fd, bytes.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_failure("read", path);
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

fs::path staging_dir_for(const fs::path& dir, uint64_t epoch) {
  auto out = dir;
  out += ".carry-" + std::to_string(epoch);
  return out;
}

hm::expected<void> write_store_piece(const fs::path& dir, const store_piece& piece) {
  if (!valid_store_file_name(piece.file))
    return fail(error_code::refused, "refused a store file named '" + piece.file + "'");
  auto staging = staging_dir_for(dir, piece.epoch);
  std::error_code ec;
  fs::create_directories(staging.parent_path(), ec);
  if (::mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST)
    return io_failure("create", staging);
  auto path = staging / piece.file;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (piece.offset == 0 ? O_TRUNC : 0);
  fd_guard f{::open(path.c_str(), flags, 0600)};
  if (f.fd < 0)
    return io_failure("open", path);
  size_t done = 0;
  while (done < piece.bytes.size()) {
    auto n = ::pwrite(f.fd, piece.bytes.data() + done, piece.bytes.size() - done,
                      static_cast<off_t>(piece.offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_failure("write", path);
    done += static_cast<size_t>(n);
  }
  return {};
}

hm::expected<void> commit_store(const fs::path& dir, const store_manifest& manifest) {
  auto staging = staging_dir_for(dir, manifest.epoch);
  std::error_code ec;
  fs::create_directories(staging.parent_path(), ec);
  if (::mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST) // an empty store has no pieces
    return io_failure("create", staging);
  auto staged = describe_store(staging);
  if (!staged)
    return hm::unexpected{std::move(staged).error()};
  auto& have = *staged;
  auto want = manifest.files;
  std::sort(want.begin(), want.end(),
            [](const store_file& a, const store_file& b) { return a.name < b.name; });
  if (have.size() != want.size())
    return fail(error_code::corrupt, "the carried store has " + std::to_string(have.size())
                                       + " file(s), the sender listed "
                                       + std::to_string(want.size()));
  for (size_t i = 0; i < have.size(); ++i)
    if (have[i].name != want[i].name || have[i].size != want[i].size
        || have[i].sha256 != want[i].sha256)
      return fail(error_code::corrupt,
                  "the carried file " + want[i].name + " does not match what was sent ("
                    + std::to_string(have[i].size) + " bytes received, "
                    + std::to_string(want[i].size) + " sent, or a different SHA-256)");
  for (auto& f : have) {
    fd_guard fd{::open((staging / f.name).c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0 || ::fsync(fd.fd) != 0)
      return io_failure("sync", staging / f.name);
  }
  if (auto synced = sync_dir(staging); !synced)
    return synced;
  if (fs::exists(dir, ec)) {
    auto old = dir;
    old += ".replaced-" + std::to_string(manifest.epoch);
    if (::rename(dir.c_str(), old.c_str()) != 0)
      return io_failure("set aside", dir);
  }
  if (::rename(staging.c_str(), dir.c_str()) != 0)
    return io_failure("put in place", dir);
  return sync_dir(dir.parent_path());
}

namespace {

fs::path source_mark(const fs::path& dir, uint64_t epoch) {
  return dir / (".carry-source-" + std::to_string(epoch));
}

} // namespace

hm::expected<void> mark_carry_source(const fs::path& dir, uint64_t epoch) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return {};
  auto mark = source_mark(dir, epoch);
  fd_guard f{::open(mark.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)};
  if (f.fd < 0)
    return io_failure("create", mark);
  return {};
}

bool is_carry_source(const fs::path& dir, uint64_t epoch) {
  std::error_code ec;
  return fs::exists(source_mark(dir, epoch), ec);
}

fs::path moved_dir_for(const fs::path& dir, const std::string& node, uint64_t epoch) {
  auto out = dir;
  out += ".moved-to-" + node + "-" + std::to_string(epoch);
  return out;
}

hm::expected<void> set_store_aside(const fs::path& dir, const std::string& node,
                                   uint64_t epoch) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return {};
  auto moved = moved_dir_for(dir, node, epoch);
  if (::rename(dir.c_str(), moved.c_str()) != 0)
    return io_failure("set aside", dir);
  return sync_dir(dir.parent_path());
}

} // namespace hm
