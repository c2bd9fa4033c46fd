#include "store/recovery_key_file.hpp"

#include "matrix/crypto/secure_random.hpp"

namespace hm {

std::filesystem::path recovery_key_path_for(const std::filesystem::path& store_path) {
  auto p = store_path;
  p.replace_extension(".recovery-key");
  return p;
}

hm::expected<void> write_recovery_key_file(const std::filesystem::path& path,
                                           std::string_view recovery_key) {
  std::string text{recovery_key};
  text += '\n';
  auto written = store::create_secret_file(path, text, "the recovery key file");
  matrix::crypto::wipe_memory(text.data(), text.size());
  return written;
}

store::secret_text read_recovery_key_file(const std::filesystem::path& path) {
  // A recovery key is words ("EsT1 H3Wm ..."), so the whole text, trimmed.
  auto read = store::read_private_text(path, "the recovery key file");
  if (!read.error.empty())
    return read;
  auto& text = read.value;
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  store::secret_text kept;
  if (first != std::string::npos)
    kept.value = text.substr(first, last - first + 1);
  else
    kept.error = "the recovery key file " + path.string() + " is empty";
  matrix::crypto::wipe_memory(text.data(), text.size());
  return kept;
}

} // namespace hm
