#include "actors/cell/homeserver.hpp"

#include <chrono>

namespace hm {

http_call to_http_call(const homeserver_link& link, const matrix::http_request& request,
                       uint64_t id) {
  http_call call;
  call.id = id;
  call.method = std::string{matrix::to_string(request.method)};
  call.url = link.base_url + request.target;
  if (auto type = matrix::body_content_type(request); !type.empty())
    call.headers.emplace_back("Content-Type", std::move(type));
  call.body = matrix::body_text(request);
  if (request.needs_access_token)
    call.authorization = secret{"Bearer " + std::string{link.access_token.reveal()}};
  call.timeout = request.timeout;
  call.proxy = link.proxy;
  if (request.max_response_bytes != 0)
    call.max_body_bytes = request.max_response_bytes;
  return call;
}

matrix::http_response to_matrix_response(const http_result& result) {
  matrix::http_response r;
  r.status = result.status;
  r.body = result.body;
  for (auto& [name, value] : result.headers)
    if (name == "retry-after")
      r.retry_after_header = value;
  r.received_at = std::chrono::system_clock::now();
  return r;
}

matrix::matrix_error to_matrix_error(const http_result& result) {
  if (result.status == 0)
    return matrix::network_error(result.error);
  return matrix::parse_matrix_error(to_matrix_response(result));
}

matrix::result<matrix::http_response> to_matrix_result(const http_result& result) {
  if (succeeded(result))
    return to_matrix_response(result);
  return hm::unexpected{to_matrix_error(result)};
}

} // namespace hm
