#pragma once

// What kind of agent backend a profile talks to, asked of the backend itself:
// `GET {base}/v1/capabilities`, which Hermes' API server answers and a plain
// OpenAI-compatible server does not have (../../shared/reference/hermes-api-server/).
// Not guessed from what a reply happens to carry: the real server sends its `hermes`
// object only on failed turns.

#include "agent/chat_request.hpp"

#include <optional>
#include <string_view>

namespace hm::agent {

/// What the backend offers that changes how hermes-matrix talks to it.
struct backend_capabilities {
  /// `X-Hermes-Session-Id` continues a conversation on the server, which keeps the
  /// history and already holds the profile's SOUL.md: a turn carries neither.
  bool keeps_sessions = false;
  /// `/v1/runs` with its status and its event stream.
  bool runs = false;
  /// Approvals arrive as run events and are answered with POST .../approval.
  bool approvals = false;
  /// POST /v1/runs/{id}/stop.
  bool stop = false;
  /// POST /v1/runs takes Idempotency-Key (newer servers): a replay gives the same run.
  bool idempotent_runs = false;
  friend bool operator==(const backend_capabilities&, const backend_capabilities&) = default;
};

/// `GET {base}/v1/capabilities`, with the bearer key when one is set.
[[nodiscard]] http_request build_capabilities_request(std::string_view base_url,
                                                      std::string_view api_key);

/// What an answer to that request says. A server without the endpoint (404, 405, or a
/// 200 that is not its JSON) is a plain OpenAI-compatible backend. Nothing is learned
/// (nullopt: ask again before a later turn) from no answer, a 5xx, a 429, or a 401/403
/// (the key is wrong, which the turn itself will report).
[[nodiscard]] std::optional<backend_capabilities> parse_capabilities(int status,
                                                                     std::string_view body);

} // namespace hm::agent
