#pragma once

// The media a person sends, kept where Hermes keeps it (gateway/platforms/base.py):
// `<HERMES_HOME>/cache/images/img_<id><ext>`, `cache/audio/audio_<id><ext>`,
// `cache/video/video_<id><ext>` and `cache/documents/doc_<id>_<original name>`, so the
// agent's tools find them by the path it is told. Files are 0600 and new (O_EXCL);
// the folders are 0700 and opened without following links, so another local user can
// neither read what was sent nor redirect a write with a planted link.

#include "errors/error.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace hm::store {

enum class media_kind { image, audio, video, document };

/// Writes `bytes` as a new file of `kind` under `hermes_home`'s cache. The original
/// name only contributes a sanitised extension (or, for documents, a sanitised name).
/// The file's absolute path, or an io error: a sentence naming the folder or file.
[[nodiscard]] hm::expected<std::filesystem::path> cache_media(const std::filesystem::path& hermes_home, media_kind kind,
                                      std::string_view original_name, std::string_view bytes);

/// `name` made safe as the last part of a file name: no folders, no NUL or control
/// characters, no leading dots, at most 120 bytes (UTF-8 kept whole); "document" when
/// nothing is left.
[[nodiscard]] std::string safe_file_name(std::string_view name);

} // namespace hm::store
