#include "store/media_cache.hpp"

#include "store/fd_guard.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hm::store {

namespace {

const char* folder_of(media_kind kind) {
  switch (kind) {
    case media_kind::image: return "images";
    case media_kind::audio: return "audio";
    case media_kind::video: return "video";
    case media_kind::document: return "documents";
  }
  return "documents";
}

/// Hermes' uuid4().hex[:12]: names are unique, not secret.
std::string random_id() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 12; ++i)
    id += "0123456789abcdef"[hex(rd)];
  return id;
}

/// ".png" from "cat.PNG": letters and digits only, at most 8 of them; else `fallback`.
std::string extension_of(std::string_view name, const char* fallback) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= name.size() || name.size() - dot - 1 > 8)
    return fallback;
  std::string ext = ".";
  for (char ch : name.substr(dot + 1)) {
    if (!std::isalnum(static_cast<unsigned char>(ch)))
      return fallback;
    ext += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return ext;
}

/// Opens (creating it 0700 when missing) the folder `name` inside the open folder `at`,
/// refusing a symbolic link there.
int open_folder(int at, const char* name) {
  if (::mkdirat(at, name, 0700) != 0 && errno != EEXIST)
    return -1;
  return ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

} // namespace

std::string safe_file_name(std::string_view name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  std::string out;
  for (char ch : name)
    if (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f)
      out += ch;
  auto first = out.find_first_not_of(". ");
  out = first == std::string::npos ? std::string{} : out.substr(first);
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (out.size() > 120) {
    std::size_t cut = 120;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80)
      --cut; // never split a UTF-8 sequence
    out.resize(cut);
  }
  return out.empty() ? "document" : out;
}

hm::expected<std::filesystem::path> cache_media(const std::filesystem::path& hermes_home,
                                                media_kind kind, std::string_view original_name,
                                                std::string_view bytes) {
  auto folder = hermes_home / "cache" / folder_of(kind);
  auto cannot = [&](const std::string& what) {
    return fail(error_code::io, "cannot write into " + folder.string() + ": " + what + " ("
                                  + std::strerror(errno) + ")");
  };
  fd_guard home{::open(hermes_home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (home.fd < 0)
    return cannot("the profile folder cannot be opened");
  fd_guard cache{open_folder(home.fd, "cache")};
  if (cache.fd < 0)
    return cannot("cache/ cannot be opened (a symbolic link there is refused)");
  fd_guard kind_dir{open_folder(cache.fd, folder_of(kind))};
  if (kind_dir.fd < 0)
    return cannot(std::string{folder_of(kind)} + "/ cannot be opened (a symbolic link there is refused)");
  std::string name;
  switch (kind) {
    case media_kind::image: name = "img_" + random_id() + extension_of(original_name, ".jpg"); break;
    case media_kind::audio: name = "audio_" + random_id() + extension_of(original_name, ".ogg"); break;
    case media_kind::video: name = "video_" + random_id() + extension_of(original_name, ".mp4"); break;
    case media_kind::document: name = "doc_" + random_id() + "_" + safe_file_name(original_name); break;
  }
  fd_guard file{::openat(kind_dir.fd, name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (file.fd < 0)
    return cannot("a new file cannot be made");
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(file.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      auto err = cannot("the file could not be written whole");
      ::unlinkat(kind_dir.fd, name.c_str(), 0);
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  std::error_code ec;
  auto absolute = std::filesystem::absolute(folder / name, ec);
  return ec ? folder / name : absolute;
}

} // namespace hm::store
