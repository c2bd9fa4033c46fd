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

namespace {

/// The code unit of a `\uXXXX` escape starting at text[i] (the backslash), or -1.
long escaped_unit(std::string_view text, std::size_t i) {
  if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u')
    return -1;
  long v = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    char c = text[k];
    int d = c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

} // namespace

std::string repair_lone_surrogates(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!in_string) {
      in_string = c == '"';
      out += c;
      continue;
    }
    if (c == '"') {
      in_string = false;
      out += c;
      continue;
    }
    if (c != '\\' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    long unit = escaped_unit(text, i);
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      long next = escaped_unit(text, i + 6);
      if (next >= 0xDC00 && next <= 0xDFFF) {
        out.append(text.substr(i, 12)); // a proper pair
        i += 11;
      } else {
        out += "\\uFFFD";
        i += 5;
      }
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      out += "\\uFFFD";
      i += 5;
    } else {
      out += c; // any other escape: copy it whole, so `\\` never starts a new one
      out += text[++i];
    }
  }
  return out;
}

std::optional<nlohmann::json> parse_bounded_json(std::string_view text,
                                                 const json_limits& limits,
                                                 std::string* why) {
  if (limits.repair_lone_surrogates && text.find("\\u") != std::string_view::npos) {
    auto repaired = repair_lone_surrogates(text);
    auto plain = limits;
    plain.repair_lone_surrogates = false;
    return parse_bounded_json(repaired, plain, why);
  }
  auto fail = [why](const char* reason) -> std::optional<nlohmann::json> {
    if (why != nullptr)
      *why = reason;
    return std::nullopt;
  };
  if (text.size() > limits.max_bytes)
    return fail("JSON body too large");
  // The pre-scan rejects hostile nesting before nlohmann builds a tree of it (its parser
  // is iterative, but everything that walks the result afterwards is not).
  bool too_deep = json_nesting_depth(text, limits.max_depth) > limits.max_depth;
  if (too_deep && !limits.prune_too_deep)
    return fail("JSON nested too deeply");
  try {
    if (too_deep) {
      // nlohmann's callback parser is iterative; returning false discards the value
      // (and all inside it) before it reaches the tree, so the tree stays shallow.
      // Depth counts containers entered: the top-level value is depth 0.
      auto max_depth = static_cast<int>(limits.max_depth);
      nlohmann::json::parser_callback_t keep = [max_depth](int depth,
                                                           nlohmann::json::parse_event_t event,
                                                           nlohmann::json&) {
        if (event == nlohmann::json::parse_event_t::key)
          return true;
        if (event == nlohmann::json::parse_event_t::object_start
            || event == nlohmann::json::parse_event_t::array_start)
          return depth < max_depth;
        return depth <= max_depth;
      };
      auto j = nlohmann::json::parse(text.begin(), text.end(), keep,
                                     /*allow_exceptions=*/false,
                                     /*ignore_comments=*/false);
      if (j.is_discarded())
        return fail("not valid JSON");
      return j;
    }
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
