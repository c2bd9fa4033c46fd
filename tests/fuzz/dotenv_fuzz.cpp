// libFuzzer harness for the .env parser and writer. Besides crashes and sanitizer
// findings, it checks properties; a violated one aborts (and is a finding):
// - no value or key holds a NUL byte or invalid UTF-8, every entry has a line >= 1;
// - no problem text repeats a value;
// - any value quote_dotenv_value accepts reads back exactly;
// - for a text without errors: setting a key (new or existing) and parsing again gives
//   exactly that value, leaves every other key as it was, and adds no error.

#include "profiles/dotenv.hpp"
#include "profiles/dotenv_scan.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

using namespace hm::profiles;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::map<std::string, std::string> effective(const dotenv_file& f) {
  std::map<std::string, std::string> out;
  for (const auto& e : f.entries)
    out[e.key] = e.value;
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  dotenv_file f = parse_dotenv(text, "fuzz.env");

  for (const auto& e : f.entries) {
    require(e.line >= 1, "entry line >= 1");
    require(e.value.find('\0') == std::string::npos, "no NUL in a value");
    require(detail::invalid_utf8_at(e.value) == std::string_view::npos, "value is UTF-8");
    require(detail::invalid_utf8_at(e.key) == std::string_view::npos, "key is UTF-8");
    // Only values with a byte our messages never use ('~', '|' or non-ASCII) are
    // looked for: libFuzzer learns the message words and feeds them back as values.
    bool distinctive = e.value.find_first_of("~|") != std::string::npos ||
                       std::any_of(e.value.begin(), e.value.end(),
                                   [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    if (e.value.size() >= 8 && distinctive)
      for (const auto& p : f.issues)
        require(p.to_string().find(e.value) == std::string::npos, "no value in a problem");
  }

  // Interpolation must not crash or loop on any value.
  dotenv_file copy = f;
  interpolate_dotenv(copy, [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET")
      return std::string("value");
    return std::nullopt;
  });

  // Any writable value reads back exactly from a line of its own.
  std::string whole(text.substr(0, 256));
  if (auto quoted = quote_dotenv_value(whole)) {
    dotenv_file one = parse_dotenv("K=" + *quoted + "\n", "fuzz.env");
    require(!has_errors(one.issues), "a quoted value parses without error");
    require(one.find("K") != nullptr && one.find("K")->value == whole, "a quoted value reads back");
  }

  problems scratch;
  bool fragile = detail::scan_dotenv(text, "fuzz.env", scratch).fragile;
  if (has_errors(f.issues) || fragile)
    return 0;

  // The value to write: the last bytes of the input (often quotes, escapes, newlines).
  std::string value(text.substr(size > 40 ? size - 40 : 0));
  if (!quote_dotenv_value(value))
    return 0;
  auto before = effective(f);
  std::string key = "FUZZ_KEY";
  for (const auto& e : f.entries)
    if (detail::portable_key(e.key)) {
      key = e.key; // replace an existing key half of the time
      break;
    }
  if (size % 2 == 0)
    key = "FUZZ_KEY";

  std::string written = with_dotenv_key(text, key, value);
  dotenv_file g = parse_dotenv(written, "fuzz.env");
  require(!has_errors(g.issues), "rewrite adds no error");
  const dotenv_entry* e = g.find(key);
  require(e != nullptr && e->value == value, "rewritten value reads back");
  auto after = effective(g);
  before[key] = value;
  require(after == before, "other keys unchanged");
  return 0;
}
