#pragma once

// What a profile does with media (issue 15): the size it takes, how images are scaled
// for the model, and speech-to-text for voice messages. Speech-to-text is configured
// where Hermes keeps it: the `stt` section of the profile's config.yaml (provider,
// model, language, echo_transcripts) and the provider's key in the profile's .env.
// Only providers with an OpenAI-compatible /v1/audio/transcriptions are reachable from
// here: `openai` (also any local whisper server, by STT_OPENAI_BASE_URL) and `groq`.
// Hermes' default provider, `local`, runs faster-whisper inside Hermes' own process,
// which a separate gateway cannot use.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "profiles/problem.hpp"
#include "profiles/secret.hpp"

namespace hm::profiles {

struct stt_settings {
  bool enabled = true;            ///< stt.enabled (Hermes' default: on)
  std::string provider = "local"; ///< stt.provider (Hermes' default: local)
  /// The provider's OpenAI-compatible base URL ("…/v1"); "" when the provider has none
  /// this service can reach (then voice messages get a note on how to turn STT on).
  std::string base_url;
  secret api_key;                 ///< VOICE_TOOLS_OPENAI_KEY / OPENAI_API_KEY, GROQ_API_KEY
  std::string model;              ///< stt.<provider>.model, else the provider's default
  std::string language;           ///< stt.<provider>.language, else stt.language ("": detect)
  std::string prompt;             ///< stt.prompt
  /// stt_echo_transcripts, else stt.echo_transcripts (Hermes' default: on): the
  /// transcript is posted back to the room as "🎙️ …".
  bool echo_transcripts = true;

  /// Whether a voice message can be transcribed.
  [[nodiscard]] bool usable() const { return enabled && !base_url.empty(); }

  friend bool operator==(const stt_settings&, const stt_settings&) = default;
};

struct media_settings {
  /// HERMES_MATRIX_MEDIA_MAX_MB: the largest attachment taken in (and sent out); larger
  /// ones get a short refusal. Default 25 MB, what Hermes' own STT takes.
  std::uint64_t max_bytes = 25ull * 1024 * 1024;
  /// HERMES_MATRIX_IMAGE_MAX_SIDE: images are scaled down to this many pixels on their
  /// long side before they go to the model (256..8192, default 2048).
  int image_max_side = 2048;
  /// HERMES_MATRIX_MEDIA_MAX_FILES: at most this many MEDIA: files are sent with one
  /// reply (1..50, default 10); the rest are named in a note.
  int max_files_per_reply = 10;
  /// HERMES_MATRIX_MEDIA_DIRS: absolute folders besides the profile's own (HERMES_HOME)
  /// from which the agent's MEDIA: files may be sent; anything elsewhere is refused.
  std::vector<std::string> send_dirs;
  stt_settings stt;

  friend bool operator==(const media_settings&, const media_settings&) = default;
};

/// The `stt` section of a profile's config.yaml as written (before the .env's keys and
/// the provider defaults are applied).
struct stt_yaml {
  std::optional<bool> enabled;
  std::string provider;
  std::optional<bool> echo_transcripts;     ///< stt.echo_transcripts
  std::optional<bool> top_echo_transcripts; ///< stt_echo_transcripts (wins, as in Hermes)
  std::string language;
  std::string prompt;
  std::string provider_model;    ///< stt.<provider>.model
  std::string provider_language; ///< stt.<provider>.language
};

/// Reads `<dir>/config.yaml`'s speech-to-text settings. A missing file is not a problem;
/// a file that is not YAML, or values of the wrong type, are warnings naming the file
/// and line (the defaults are used), never fatal: the profile's chat works without it.
[[nodiscard]] stt_yaml read_stt_yaml(const std::filesystem::path& config_yaml,
                                     problems& issues);

/// Parses config.yaml text (for tests; read_stt_yaml reads the file and calls this).
[[nodiscard]] stt_yaml parse_stt_yaml(const std::string& text,
                                      const std::filesystem::path& file, problems& issues);

} // namespace hm::profiles
