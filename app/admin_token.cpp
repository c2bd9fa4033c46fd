#include "app/admin_token.hpp"

#include "store/private_file.hpp"

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

namespace hm {

namespace {

/// A token shorter than this is refused: it could be guessed.
constexpr std::size_t min_token_chars = 16;

/// 32 bytes from the kernel's CSPRNG as 64 hex digits.
admin_token random_token() {
  std::array<unsigned char, 32> bytes{};
  std::ifstream urandom{"/dev/urandom", std::ios::binary};
  if (!urandom.read(reinterpret_cast<char*>(bytes.data()), bytes.size()))
    return {{}, "cannot read /dev/urandom to generate the admin token"};
  static constexpr char hex[] = "0123456789abcdef";
  std::string token;
  for (auto b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 0xf];
  }
  return {token, {}};
}

} // namespace

std::filesystem::path default_admin_token_path(const std::filesystem::path& home) {
  return home / "hermes-matrix" / "admin-token";
}

admin_token read_admin_token(const std::filesystem::path& path) {
  // The pickle key's rules: ours, private, not a link, and long enough to be guessed
  // by nobody (a generated token has 64 characters).
  auto text = store::read_secret_file(path, "the admin token file", min_token_chars);
  return {std::move(text.value), std::move(text.error)};
}

admin_token read_or_create_admin_token(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec))
    return read_admin_token(path);
  if (auto dir = path.parent_path(); !dir.empty())
    if (auto made = store::make_private_dir(dir); !made)
      return {{}, made.error().message + " (for the admin token)"};
  auto token = random_token();
  if (!token.error.empty())
    return token;
  // O_EXCL: two nodes starting together never overwrite each other's token, and a
  // link planted there is not followed.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return read_admin_token(path);
    return {{}, "cannot create the admin token file " + path.string() + ": "
                  + std::strerror(errno)};
  }
  auto text = token.value + "\n";
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    std::filesystem::remove(path, ec);
    return {{}, "cannot write the admin token file " + path.string()};
  }
  return token;
}

bool same_token(std::string_view presented, std::string_view expected) {
  if (expected.empty())
    return false;
  // Every byte of `expected` is looked at, whatever `presented` holds.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    auto p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size())
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i]))
        != std::tolower(static_cast<unsigned char>(scheme[i])))
      return {};
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
    token.remove_suffix(1);
  return token;
}

} // namespace hm
