// libFuzzer target for the receiving side of a store carry (store/carry): the
// pieces and the manifest a peer node sends, written into a sandbox profile.
//
// The input is a list of pieces (name, offset, bytes) and, per piece, whether the
// manifest tells its true SHA-256. Properties (a violated one aborts): a name the
// carry refuses creates nothing; nothing is ever written outside the store's own
// folders (the store, its staging folder, the set-aside copy); a commit succeeds only
// when the manifest matches what was written, and then the store holds exactly that.
//
// Sources: tests/fuzz/store_carry_fuzz.cpp store/carry.cpp store/profile_store.cpp
// store/journal_outcome.cpp store/private_file.cpp (-lsqlite3 -lcrypto). Seeds:
// tests/fuzz/corpus/store_carry/.

#include "store/carry.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool more() const { return at < size; }
  std::uint8_t byte() { return at < size ? data[at++] : 0; }
  std::string bytes(std::size_t n) {
    n = std::min(n, size - at);
    std::string s{reinterpret_cast<const char*>(data + at), n};
    at += n;
    return s;
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path root = fs::temp_directory_path()
                               / ("hm-fuzz-store-carry-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto profile = root / "profile";
  auto dir = hm::store_dir_for(profile);
  fs::create_directories(dir.parent_path());
  constexpr std::uint64_t epoch = 7;

  reader in{data, size};
  std::map<std::string, std::string> written; // what the staged files hold
  std::map<std::string, bool> honest;         // the manifest tells the true SHA-256
  while (in.more() && written.size() < 8) {
    auto name = in.bytes(in.byte() % 24);
    auto offset = static_cast<std::uint64_t>(in.byte() % 4) * 512;
    auto bytes = in.bytes(in.byte());
    bool tell_truth = (in.byte() & 1) == 0;
    auto piece_written = hm::write_store_piece(dir, {"p", epoch, name, offset, bytes});
    if (!hm::valid_store_file_name(name)) {
      require(!piece_written.has_value(), "a refused name was written");
      continue;
    }
    if (!piece_written)
      continue;
    auto& content = written[name];
    if (offset == 0)
      content.clear();
    if (!bytes.empty() && content.size() < offset + bytes.size()) // pwrite of 0 bytes
      content.resize(offset + bytes.size(), '\0');                 // extends nothing
    if (!bytes.empty())
      content.replace(offset, bytes.size(), bytes);
    honest[name] = tell_truth;
  }
  hm::store_manifest manifest{"p", epoch, {}};
  bool all_true = true;
  for (auto& [name, content] : written) {
    manifest.files.push_back({name, content.size(),
                              honest[name] ? sha256_hex(content) : sha256_hex(content + "x")});
    all_true &= honest[name];
  }
  auto committed = hm::commit_store(dir, manifest).has_value();
  require(committed == all_true, "a commit did not follow the manifest's truth");
  if (committed)
    for (auto& [name, content] : written)
      require(read_all(dir / name) == content, "the store does not hold what was sent");
  // Nothing outside the store's own folders: the profile holds platforms/ only, and
  // platforms/ only the store and its carry folders.
  for (auto& e : fs::directory_iterator{profile})
    require(e.path().filename() == "platforms", "a carry wrote beside platforms/");
  auto stem = dir.filename().string();
  for (auto& e : fs::directory_iterator{dir.parent_path()})
    require(e.path().filename().string().rfind(stem, 0) == 0,
            "a carry wrote outside the store's folders");
  for (auto& e : fs::recursive_directory_iterator{dir.parent_path()})
    require(!e.is_symlink(), "a carry left a link");
  return 0;
}
