#include "matrix/crypto/canonical_json.hpp"

#include <cmath>

#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

namespace {

constexpr std::size_t max_depth = 128;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(const std::string& s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char c = byte(i);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2))
      return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0)
      return 0; // overlong
    if (c == 0xED && c1 >= 0xA0)
      return 0; // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3))
      return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90)
      return 0; // overlong
    if (c == 0xF4 && c1 >= 0x90)
      return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

bool write_string(const std::string& s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence_length(s, i);
      if (n == 0)
        return false;
      out.append(s, i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0x0F]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return true;
}

// Returns the reason on failure, nullptr on success.
const char* write_value(const nlohmann::json& v, std::string& out, std::size_t depth) {
  if (depth > max_depth)
    return "nested too deeply";
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out += "null";
      return nullptr;
    case nlohmann::json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return nullptr;
    case nlohmann::json::value_t::number_integer: {
      auto i = v.get<std::int64_t>();
      if (i > canonical_int_max || i < -canonical_int_max)
        return "integer out of range";
      out += std::to_string(i);
      return nullptr;
    }
    case nlohmann::json::value_t::number_unsigned: {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(canonical_int_max))
        return "integer out of range";
      out += std::to_string(u);
      return nullptr;
    }
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d) || std::trunc(d) != d)
        return "not an integer";
      if (std::fabs(d) > static_cast<double>(canonical_int_max))
        return "integer out of range";
      out += std::to_string(static_cast<std::int64_t>(d)); // -0.0 becomes "0"
      return nullptr;
    }
    case nlohmann::json::value_t::string:
      return write_string(v.get_ref<const std::string&>(), out) ? nullptr
                                                                 : "string is not UTF-8";
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first)
          out.push_back(',');
        first = false;
        if (const char* why = write_value(e, out, depth + 1))
          return why;
      }
      out.push_back(']');
      return nullptr;
    }
    case nlohmann::json::value_t::object: {
      // nlohmann's object_t is a std::map<std::string, ...>: iteration is in byte order,
      // which for UTF-8 is code point order, as canonical JSON requires.
      out.push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.items()) {
        if (!first)
          out.push_back(',');
        first = false;
        if (!write_string(key, out))
          return "key is not UTF-8";
        out.push_back(':');
        if (const char* why = write_value(value, out, depth + 1))
          return why;
      }
      out.push_back('}');
      return nullptr;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      return "not a JSON value";
  }
  return "not a JSON value";
}

} // namespace

result<std::string> canonical_json(const nlohmann::json& value) {
  try {
    std::string out;
    if (const char* why = write_value(value, out, 0))
      return hm::unexpected{crypto_error(errcode_not_canonical,
                          std::string{"cannot encode as canonical JSON: "} + why)};
    return out;
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_not_canonical, "cannot encode as canonical JSON: out of memory")};
  }
}

result<std::string> signable_json(const nlohmann::json& object) {
  if (!object.is_object())
    return hm::unexpected{crypto_error(errcode_not_canonical, "only a JSON object can be signed")};
  try {
    nlohmann::json copy = object;
    copy.erase("signatures");
    copy.erase("unsigned");
    return canonical_json(copy);
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_not_canonical, "cannot encode as canonical JSON: out of memory")};
  }
}

} // namespace hm::matrix::crypto
