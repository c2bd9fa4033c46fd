#include "actors/cell/agent_call.hpp"

#include <utility>

namespace hm {

http_call to_call(agent::http_request req, uint64_t id) {
  http_call call;
  call.id = id;
  call.method = std::move(req.method);
  call.url = std::move(req.url);
  call.body = std::move(req.body);
  for (auto& h : req.headers) {
    if (h.name == "Authorization")
      call.authorization = secret{h.value};
    else
      call.headers.emplace_back(h.name, h.value);
  }
  return call;
}

} // namespace hm
