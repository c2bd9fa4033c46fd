// libFuzzer target: error responses. Input layout: the first line is the Retry-After
// header value (empty line: no header), the rest the body; the status comes from the
// first byte. parse_matrix_error must always give a bounded, classifiable error.
// Sources: tests/fuzz/matrix_error_fuzz.cpp matrix/bounded_json.cpp matrix/errors.cpp

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "matrix/errors.hpp"

using namespace hm::matrix;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  static constexpr int statuses[] = {400, 401, 403, 404, 429, 500, 502, 503};
  http_response r;
  r.status = statuses[data[0] % 8];
  std::string_view rest{reinterpret_cast<const char*>(data + 1), size - 1};
  auto nl = rest.find('\n');
  if (nl != std::string_view::npos) {
    if (nl > 0)
      r.retry_after_header = rest.substr(0, nl);
    r.body = rest.substr(nl + 1);
  } else {
    r.body = rest;
  }
  r.received_at = std::chrono::system_clock::time_point{std::chrono::seconds{1445412480}};
  auto e = parse_matrix_error(r);
  (void)classify(e);
  (void)to_string(e);
  if (e.retry_after && (e.retry_after->count() < 0 || e.retry_after->count() > 86400000))
    std::abort(); // retry_after is always within [0, one day]
  if (!e.body_was_json && e.error.size() > 200)
    std::abort(); // excerpts stay short
  return 0;
}
