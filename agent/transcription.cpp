#include "agent/transcription.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <random>

namespace hm::agent {

namespace {

std::string random_boundary() {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device random; // getrandom(2) on Linux: not guessable by a sender
  std::string b = "hermes-matrix-";
  for (int i = 0; i < 4; ++i) {
    auto word = random();
    for (int j = 0; j < 8; ++j, word >>= 4)
      b.push_back(hex[word & 15U]);
  }
  return b;
}

/// The name a Content-Disposition can carry: no path (a name is not a place to
/// write), no quote, backslash or control character that could end the parameter or
/// the header.
std::string disposition_filename(std::string_view name) {
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  std::string out;
  for (const char c : name)
    if (c != '"' && (static_cast<unsigned char>(c) >= 0x20) && c != 0x7f)
      out.push_back(c);
  if (out.empty() || out == "." || out == "..")
    out = "audio";
  return out;
}

void add_part(std::string& body, std::string_view boundary, std::string_view name,
              std::string_view value) {
  body += "--";
  body += boundary;
  body += "\r\nContent-Disposition: form-data; name=\"";
  body += name;
  body += "\"\r\n\r\n";
  body += value;
  body += "\r\n";
}

} // namespace

std::string multipart_boundary(const transcription_input& in,
                               const std::function<std::string()>& candidate) {
  const std::array<std::string_view, 6> parts{in.audio,    in.filename, in.mimetype,
                                              in.model,    in.language, in.prompt};
  for (;;) {
    auto b = candidate ? candidate() : random_boundary();
    bool absent = !b.empty();
    for (const auto part : parts)
      absent = absent && part.find(b) == std::string_view::npos;
    if (absent)
      return b;
  }
}

http_request build_transcription_request(const transcription_input& in,
                                         std::string_view boundary) {
  http_request req;
  req.method = "POST";
  req.url = v1_url(in.base_url, "audio/transcriptions");
  const auto b = header_value(boundary);
  req.headers.push_back({"Content-Type", "multipart/form-data; boundary=" + b});
  req.headers.push_back({"Accept", "application/json"});
  if (!in.api_key.empty())
    req.headers.push_back({"Authorization", bearer(in.api_key)});

  std::string& body = req.body;
  body.reserve(in.audio.size() + 1024);
  add_part(body, b, "model", in.model.empty() ? "whisper-1" : in.model);
  if (!in.language.empty())
    add_part(body, b, "language", in.language);
  if (!in.prompt.empty())
    add_part(body, b, "prompt", in.prompt);
  add_part(body, b, "response_format", "json");
  const auto type = header_value(in.mimetype);
  body += "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"";
  body += disposition_filename(in.filename);
  body += "\"\r\nContent-Type: ";
  body += type.empty() ? "application/octet-stream" : type;
  body += "\r\n\r\n";
  body += in.audio;
  body += "\r\n--" + b + "--\r\n";
  return req;
}

http_request build_transcription_request(const transcription_input& in) {
  return build_transcription_request(in, multipart_boundary(in));
}

transcription_result parse_transcription_response(int status, std::string_view body,
                                                  std::string_view api_key,
                                                  const backend_names& names) {
  if (status < 200 || status > 299)
    return hm::unexpected{describe_backend_error(status, body, api_key, names)};
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object())
    if (const auto text = j.find("text"); text != j.end() && text->is_string())
      return text->get<std::string>();
  backend_error err;
  err.status = status;
  err.message = std::string{names.service} + " answered without a transcript (HTTP "
                + std::to_string(status) + ")";
  return hm::unexpected{std::move(err)};
}

} // namespace hm::agent
