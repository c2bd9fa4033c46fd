#pragma once

// How a cell's actors perform a request of agent/ (the agent backend, speech-to-text):
// the sans-I/O description becomes an http_call for the node's engine.

#include "agent/chat_request.hpp"
#include "messages/http.hpp"

#include <cstdint>

namespace hm {

/// The http_call for a sans-I/O request of agent/: the bearer key travels as a secret.
http_call to_call(agent::http_request req, uint64_t id);

} // namespace hm
