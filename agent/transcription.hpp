#pragma once

// Speech-to-text through an OpenAI-compatible `/v1/audio/transcriptions` endpoint
// (OpenAI, Groq, a local faster-whisper or speaches server; Hermes' `stt` providers),
// sans-I/O: the multipart request out, the transcript (or why there is none) in.

#include "agent/backend_error.hpp"
#include "agent/chat_request.hpp"
#include "errors/expected.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hm::agent {

/// Everything one transcription needs. Views: the caller keeps the data alive.
struct transcription_input {
  std::string_view base_url = {}; ///< e.g. https://api.openai.com or .../v1
  std::string_view api_key = {};  ///< empty: no Authorization (a local server)
  std::string_view model = {};    ///< empty: "whisper-1"
  std::string_view audio = {};    ///< the file as the person sent it (decrypted)
  std::string_view filename = {}; ///< its name (servers tell the format by it); empty: "audio"
  std::string_view mimetype = {}; ///< e.g. audio/ogg; empty: application/octet-stream
  std::string_view language = {}; ///< ISO-639-1, optional
  std::string_view prompt = {};   ///< words to expect, optional
};

/// A multipart boundary that occurs in no part of `in`: candidates from `candidate`
/// (by default "hermes-matrix-" and 32 random hex digits) until one does not.
[[nodiscard]] std::string
multipart_boundary(const transcription_input& in,
                   const std::function<std::string()>& candidate = {});

/// POST `{base}/v1/audio/transcriptions`, multipart/form-data: `model`, `language` and
/// `prompt` when set, `response_format=json`, then `file` (filename and content type).
/// Authorization: Bearer only when a key is set. Header values and the file name lose
/// CR, LF and NUL; the file name also its path (up to the last / or \) and quotes.
/// `boundary` must occur in no part (multipart_boundary gives such a one).
[[nodiscard]] http_request build_transcription_request(const transcription_input& in,
                                                       std::string_view boundary);

/// The same with a fresh multipart_boundary(in).
[[nodiscard]] http_request build_transcription_request(const transcription_input& in);

/// The names in a speech-to-text error: "the speech-to-text service wants an API key".
inline constexpr backend_names speech_to_text_names{
  "the speech-to-text service", "transcription endpoint", "the stt base URL",
  "the stt API key"};

/// What the endpoint answered: the transcript (may be empty: silence), or an error
/// for a non-2xx answer or a body without a `text` string.
using transcription_result = hm::expected<std::string, backend_error>;

/// `api_key` as in describe_backend_error (scrubbed from echoed text); `names` lets the
/// caller name its actual settings (e.g. the env variable that holds the key).
[[nodiscard]] transcription_result
parse_transcription_response(int status, std::string_view body, std::string_view api_key = {},
                             const backend_names& names = speech_to_text_names);

} // namespace hm::agent
