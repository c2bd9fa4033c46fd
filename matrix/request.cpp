#include "matrix/request.hpp"

namespace hm::matrix {

std::string_view to_string(http_method m) {
  switch (m) {
    case http_method::get:
      return "GET";
    case http_method::post:
      return "POST";
    case http_method::put:
      return "PUT";
    case http_method::delete_:
      return "DELETE";
  }
  return "GET";
}

std::string body_text(const http_request& r) {
  if (r.raw_body)
    return *r.raw_body;
  if (!r.body)
    return {};
  try {
    return r.body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    return {}; // only bad_alloc is left; an empty body fails loudly at the server
  }
}

std::string body_content_type(const http_request& r) {
  if (r.raw_body)
    return r.content_type.empty() ? std::string{"application/octet-stream"} : r.content_type;
  if (r.body)
    return "application/json";
  return {};
}

std::string percent_encode(std::string_view segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size() * 3);
  for (char ch : segment) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                      c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    }
  }
  return out;
}

} // namespace hm::matrix
