#include "matrix/bounded_json.hpp"

#include <limits>

namespace hm::matrix {

std::size_t json_nesting_depth(std::string_view text, std::size_t stop_at) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stop_at)
            return deepest;
        }
        break;
      case '}':
      case ']':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::optional<nlohmann::json> parse_bounded_json(std::string_view text,
                                                 const json_limits& limits,
                                                 std::string* why) {
  auto fail = [why](const char* reason) -> std::optional<nlohmann::json> {
    if (why != nullptr)
      *why = reason;
    return std::nullopt;
  };
  if (text.size() > limits.max_bytes)
    return fail("JSON body too large");
  // The pre-scan rejects hostile nesting before nlohmann builds a tree of it (its parser
  // is iterative, but everything that walks the result afterwards is not).
  if (json_nesting_depth(text, limits.max_depth) > limits.max_depth)
    return fail("JSON nested too deeply");
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                   /*allow_exceptions=*/false,
                                   /*ignore_comments=*/false);
    if (j.is_discarded())
      return fail("not valid JSON");
    return j;
  } catch (const std::exception&) {
    // parse() with allow_exceptions=false should not throw; bad_alloc still could.
    return fail("JSON could not be parsed");
  }
}

const nlohmann::json* find_field(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> string_field(const nlohmann::json& obj, std::string_view key) {
  const auto* f = find_field(obj, key);
  if (f == nullptr || !f->is_string())
    return std::nullopt;
  return f->get_ref<const std::string&>();
}

std::optional<std::int64_t> int_value(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer())
    return v.get<std::int64_t>();
  return std::nullopt;
}

std::optional<std::int64_t> int_field(const nlohmann::json& obj, std::string_view key) {
  const auto* f = find_field(obj, key);
  return f == nullptr ? std::nullopt : int_value(*f);
}

std::optional<bool> bool_field(const nlohmann::json& obj, std::string_view key) {
  const auto* f = find_field(obj, key);
  if (f == nullptr || !f->is_boolean())
    return std::nullopt;
  return f->get<bool>();
}

const nlohmann::json* object_field(const nlohmann::json& obj, std::string_view key) {
  const auto* f = find_field(obj, key);
  return f != nullptr && f->is_object() ? f : nullptr;
}

const nlohmann::json* array_field(const nlohmann::json& obj, std::string_view key) {
  const auto* f = find_field(obj, key);
  return f != nullptr && f->is_array() ? f : nullptr;
}

} // namespace hm::matrix
