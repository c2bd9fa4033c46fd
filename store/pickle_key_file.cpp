#include "store/pickle_key_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/secure_random.hpp"
#include "store/private_file.hpp"

namespace hm {

namespace {

namespace crypto = matrix::crypto;

constexpr std::size_t key_file_bytes = 32;

std::string errno_text(int err) {
  return std::strerror(err);
}

hm::expected<crypto::pickle_key> read_key_file(const std::filesystem::path& path) {
  // The rules every secret file follows: ours, private, not a link (store/private_file).
  auto read = store::read_secret_file(path, "the pickle key file", 1);
  if (!read.error.empty())
    return fail(error_code::refused, read.error + " and restart");
  auto& text = read.value;
  auto bytes = crypto::base64_decode(text);
  crypto::wipe_memory(text.data(), text.size());
  if (!bytes || bytes->size() != key_file_bytes) {
    if (bytes)
      crypto::wipe_memory(bytes->data(), bytes->size());
    return fail(error_code::corrupt, "the pickle key file " + path.string() + " does not hold a "
                                       + std::to_string(key_file_bytes) + "-byte base64 key");
  }
  auto key = crypto::pickle_key::from_bytes(
    std::string_view{reinterpret_cast<const char*>(bytes->data()), bytes->size()});
  crypto::wipe_memory(bytes->data(), bytes->size());
  if (!key)
    return fail(error_code::corrupt,
                "the pickle key file " + path.string() + " holds an unusable key");
  return std::move(key).value();
}

/// Creates the key file; error_code::exists when another process won the race.
hm::expected<void> create_key_file(const std::filesystem::path& path) {
  crypto::secret_bytes raw{key_file_bytes};
  if (!crypto::fill_random(raw.data(), raw.size()))
    return fail(error_code::io,
                "cannot generate a pickle key: the system has no source of randomness");
  auto text = crypto::base64_encode_unpadded(raw.data(), raw.size()) + "\n";
  auto tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str()); // a leftover of a crash of this same pid number
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    crypto::wipe_memory(text.data(), text.size());
    return fail(error_code::io, "cannot create " + tmp.string() + ": " + errno_text(errno));
  }
  ::fchmod(fd, 0600); // whatever the umask
  bool ok = store::write_all(fd, text) && ::fsync(fd) == 0;
  auto err = errno;
  ::close(fd);
  crypto::wipe_memory(text.data(), text.size());
  if (!ok) {
    ::unlink(tmp.c_str());
    return fail(error_code::io, "cannot write " + tmp.string() + ": " + errno_text(err));
  }
  // link(2) never replaces an existing file: of two racing creators, one wins and
  // both then read the winner's key.
  int rc = ::link(tmp.c_str(), path.c_str());
  err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0)
    return err == EEXIST ? fail(error_code::exists, "exists")
                         : fail(error_code::io, "cannot create the pickle key file "
                                                  + path.string() + ": " + errno_text(err));
  // Make the new name durable too.
  int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

} // namespace

std::filesystem::path pickle_key_path_for(const std::filesystem::path& store_path) {
  auto p = store_path;
  p.replace_extension(".pickle-key");
  return p;
}

hm::expected<crypto::pickle_key>
load_pickle_key(const secret& configured, const std::filesystem::path& store_path) {
  if (!configured.empty()) {
    auto key = crypto::pickle_key::from_bytes(configured.reveal());
    if (!key)
      return fail(error_code::invalid_input,
                  "MATRIX_PICKLE_KEY is too short: it must be at least "
                    + std::to_string(crypto::pickle_key::min_size) + " characters long");
    return std::move(key).value();
  }
  auto path = pickle_key_path_for(store_path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (auto created = create_key_file(path);
        !created && created.error().code != error_code::exists)
      return hm::unexpected{std::move(created).error()};
  }
  return read_key_file(path);
}

} // namespace hm
