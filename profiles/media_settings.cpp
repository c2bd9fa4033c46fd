#include "profiles/media_settings.hpp"

#include <cctype>
#include <fstream>

#include <yaml-cpp/yaml.h>

namespace hm::profiles {

namespace {

void warn(problems& issues, const std::filesystem::path& file, int line, std::string key,
          std::string message) {
  problem p;
  p.level = problem::severity::warning;
  p.file = file;
  p.line = line;
  p.key = std::move(key);
  p.message = std::move(message);
  p.fix = "fix the value (speech-to-text uses its defaults meanwhile)";
  issues.push_back(std::move(p));
}

/// Hermes' is_truthy_value: YAML booleans, and the words people write as strings.
std::optional<bool> truthy(const YAML::Node& n) {
  if (!n.IsScalar())
    return std::nullopt;
  std::string v = n.Scalar();
  for (auto& ch : v)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "true" || v == "yes" || v == "on" || v == "1")
    return true;
  if (v == "false" || v == "no" || v == "off" || v == "0")
    return false;
  return std::nullopt;
}

struct reader {
  const std::filesystem::path& file;
  problems& issues;

  int line_of(const YAML::Node& n) const { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

  std::optional<bool> flag(const YAML::Node& map, const char* key, const std::string& name) {
    auto n = map[key];
    if (!n)
      return std::nullopt;
    auto v = truthy(n);
    if (!v)
      warn(issues, file, line_of(n), name, "is not true or false");
    return v;
  }

  std::string text(const YAML::Node& map, const char* key, const std::string& name) {
    auto n = map[key];
    if (!n || n.IsNull())
      return {};
    if (!n.IsScalar()) {
      warn(issues, file, line_of(n), name, "is not a text value");
      return {};
    }
    return n.Scalar();
  }
};

} // namespace

stt_yaml parse_stt_yaml(const std::string& text, const std::filesystem::path& file,
                        problems& issues) {
  stt_yaml out;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    warn(issues, file, e.mark.line >= 0 ? e.mark.line + 1 : 0, {},
         "is not valid YAML (" + e.msg + ")");
    return out;
  }
  if (!root.IsMap())
    return out;
  reader r{file, issues};
  try {
    out.top_echo_transcripts = r.flag(root, "stt_echo_transcripts", "stt_echo_transcripts");
    auto stt = root["stt"];
    if (!stt || stt.IsNull())
      return out;
    if (!stt.IsMap()) {
      warn(issues, file, r.line_of(stt), "stt", "is not a section of keys");
      return out;
    }
    out.enabled = r.flag(stt, "enabled", "stt.enabled");
    out.echo_transcripts = r.flag(stt, "echo_transcripts", "stt.echo_transcripts");
    out.provider = r.text(stt, "provider", "stt.provider");
    out.language = r.text(stt, "language", "stt.language");
    out.prompt = r.text(stt, "prompt", "stt.prompt");
    auto provider = out.provider.empty() ? std::string{"local"} : out.provider;
    auto section = stt[provider];
    if (section && section.IsMap()) {
      out.provider_model = r.text(section, "model", "stt." + provider + ".model");
      out.provider_language = r.text(section, "language", "stt." + provider + ".language");
    }
  } catch (const YAML::Exception& e) {
    warn(issues, file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "stt",
         "cannot be read (" + e.msg + ")");
  }
  return out;
}

stt_yaml read_stt_yaml(const std::filesystem::path& config_yaml, problems& issues) {
  std::ifstream in(config_yaml, std::ios::binary);
  if (!in)
    return {};
  // A config.yaml is small; a huge one is not read whole into memory.
  constexpr std::size_t limit = 4 * 1024 * 1024;
  std::string buf(limit + 1, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.resize(static_cast<std::size_t>(in.gcount()));
  if (buf.size() > limit) {
    warn(issues, config_yaml, 0, {}, "is larger than 4 MB and was not read");
    return {};
  }
  return parse_stt_yaml(buf, config_yaml, issues);
}

} // namespace hm::profiles
