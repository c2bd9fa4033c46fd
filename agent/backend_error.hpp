#pragma once

#include <string>
#include <string_view>

namespace hm::agent {

/// A non-200 answer of the agent backend, made fit to show to a Matrix user.
struct backend_error {
  int status = 0;
  std::string code;    // OpenAI `error.code` (or `error.type`) when given, e.g. "invalid_api_key"
  std::string message; // short, user-facing, one line; never holds the API key
  bool retryable = false; // 408, 429 and 5xx other than 501: worth trying again later
};

/// Who answered, in the words a user configures it with: the messages name the service
/// and the setting to check. The defaults are the agent backend's.
struct backend_names {
  std::string_view service = "the agent backend";
  std::string_view endpoint = "chat completions endpoint"; ///< what a 404 says is missing
  std::string_view url_setting = "GATEWAY_PROXY_URL";
  std::string_view key_setting = "GATEWAY_PROXY_KEY";
};

/// Reads an error body: the OpenAI shape `{"error":{"message","code","type"}}`,
/// `{"error":"..."}`, `{"detail":"..."}`, `{"message":"..."}`, or plain text (first
/// line, HTML ignored). `api_key` is the key the request carried, empty when none:
/// it tells "refused the key" from "wants a key", and is scrubbed from anything the
/// server echoed back.
[[nodiscard]] backend_error describe_backend_error(int status, std::string_view body,
                                                   std::string_view api_key = {},
                                                   const backend_names& names = {});

} // namespace hm::agent
