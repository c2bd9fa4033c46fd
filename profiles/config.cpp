#include "profiles/config.hpp"

#include "profiles/discovery.hpp"
#include "profiles/file_access.hpp"
#include "profiles/identifiers.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sys/stat.h>

// Defaults, aliases and the way values are read follow Hermes' Matrix adapter
// (plugins/platforms/matrix/adapter.py) so that a profile means the same here:
// - flags that default to false are true only for true/1/yes (`_env_truthy`);
//   MATRIX_REQUIRE_MENTION is false only for false/0/no/off, MATRIX_REACTIONS only for
//   false/0/no. A word outside those sets gets a warning saying what Hermes makes of it.
// - MATRIX_E2EE_MODE: required/require/true/1/yes/on, optional/prefer/preferred, else off;
//   when it is empty, MATRIX_ENCRYPTION=true/1/yes means required.
// - MATRIX_MAX_MESSAGE_LENGTH: not a number -> 16000, else clamped to 500..65535.
// - MATRIX_SESSION_SCOPE: auto/room/thread, anything else -> auto.
// - MATRIX_KEY_BACKUP (ours): off (default) or create; anything else is an error.
// - lists: comma separated, entries trimmed, empty entries dropped.
// An empty value counts as unset. Problems name file, line and key, and never a secret.

namespace hm::profiles {

const char* to_string(e2ee_mode m) {
  switch (m) {
    case e2ee_mode::off: return "off";
    case e2ee_mode::optional: return "optional";
    case e2ee_mode::required: return "required";
  }
  return "off";
}

const char* to_string(session_scope s) {
  switch (s) {
    case session_scope::automatic: return "auto";
    case session_scope::room: return "room";
    case session_scope::thread: return "thread";
  }
  return "auto";
}

namespace {

using severity = problem::severity;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  while (!s.empty() && ws(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && ws(s.back()))
    s.remove_suffix(1);
  return std::string(s);
}

bool one_of(const std::string& v, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(), [&](const char* w) { return v == w; });
}

// Reads one profile's .env into a profile_config, collecting problems.
class config_reader {
public:
  config_reader(const dotenv_file& env, problems& issues) : env_(env), issues_(issues) {}

  /// The effective, non-empty value of `key` (trimmed), or nullptr when unset/empty.
  const dotenv_entry* get(std::string_view key) const {
    const dotenv_entry* e = env_.find(key);
    if (e == nullptr || trim(e->value).empty())
      return nullptr;
    return e;
  }
  std::string text(std::string_view key) const {
    const dotenv_entry* e = get(key);
    return e ? trim(e->value) : std::string{};
  }
  int line(std::string_view key) const {
    const dotenv_entry* e = env_.find(key);
    return e ? e->line : 0;
  }

  void add(severity level, std::string_view key, std::string message, std::string fix) {
    add_at(level, line(key), key, std::move(message), std::move(fix));
  }
  void add_at(severity level, int at, std::string_view key, std::string message, std::string fix) {
    problem p;
    p.level = level;
    p.file = env_.path;
    p.line = at;
    p.key = std::string(key);
    p.message = std::move(message);
    p.fix = std::move(fix);
    issues_.push_back(std::move(p));
  }

  /// A flag that is false unless true/1/yes (Hermes' `_env_truthy`).
  bool flag_default_false(std::string_view key) {
    const dotenv_entry* e = get(key);
    if (e == nullptr)
      return false;
    std::string v = lower(e->value); // Hermes does not trim here; dotenv already did
    bool on = one_of(v, {"true", "1", "yes"});
    if (!on && !one_of(v, {"false", "0", "no"}))
      add(severity::warning, key, "is not one of true/1/yes/false/0/no; Hermes reads it as false",
          "write true or false");
    return on;
  }

  /// A flag that is true unless one of `falsy` (MATRIX_REQUIRE_MENTION, MATRIX_REACTIONS).
  bool flag_default_true(std::string_view key, std::initializer_list<const char*> falsy) {
    const dotenv_entry* e = get(key);
    if (e == nullptr)
      return true;
    std::string v = lower(e->value);
    bool off = one_of(v, falsy);
    if (!off && !one_of(v, {"true", "1", "yes"}))
      add(severity::warning, key, "is not a recognised true/false word; Hermes reads it as true",
          "write true or false");
    return !off;
  }

  /// A whole number of `unit` from `min` to `max`; anything else is warned about and
  /// `fallback` (the default, or what is set already) is kept.
  int number(std::string_view key, int min, int max, int fallback, std::string_view unit) {
    const dotenv_entry* e = get(key);
    if (e == nullptr)
      return fallback;
    std::string v = trim(e->value);
    bool digits = !v.empty() && v.size() <= std::to_string(max).size()
                  && v.find_first_not_of("0123456789") == std::string::npos;
    int n = digits ? std::stoi(v) : 0;
    if (digits && n >= min && n <= max)
      return n;
    auto range = std::to_string(min) + " to " + std::to_string(max);
    add(severity::warning, key,
        "'" + v + "' is not a number of " + std::string{unit} + " from " + range + "; "
          + std::to_string(fallback) + " is used",
        "write a number of " + std::string{unit} + " from " + range + ", or delete the line");
    return fallback;
  }

  int seconds(std::string_view key, int min, int max, int fallback) {
    return number(key, min, max, fallback, "seconds");
  }

  std::vector<std::string> list(std::string_view key) const {
    std::vector<std::string> out;
    const dotenv_entry* e = get(key);
    if (e == nullptr)
      return out;
    std::string_view rest = e->value;
    while (true) {
      auto comma = rest.find(',');
      std::string item = trim(rest.substr(0, comma));
      if (!item.empty() && std::find(out.begin(), out.end(), item) == out.end())
        out.push_back(std::move(item));
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
    return out;
  }

private:
  const dotenv_file& env_;
  problems& issues_;
};

void check_url(config_reader& r, std::string_view key, const std::string& value,
               std::string_view schemes, std::string_view example) {
  if (value.empty())
    return;
  if (auto why = url_problem(value, schemes))
    r.add(severity::error, key, "is not a valid URL: it " + *why,
          "write an absolute URL such as " + std::string(example));
}

void check_user_id(config_reader& r, std::string_view key, const std::string& id) {
  switch (user_id_syntax(id)) {
    case id_syntax::valid:
      return;
    case id_syntax::historical:
      r.add(severity::warning, key,
            "'" + id + "' has a localpart with characters only historical user ids use",
            "check the spelling; current ids use a-z, 0-9 and ._=-/+");
      return;
    case id_syntax::invalid:
      r.add(severity::error, key, "'" + id + "' is not a Matrix user id",
            "write it as @localpart:server, e.g. @doru:example.org");
      return;
  }
}

void check_room_ids(config_reader& r, std::string_view key, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (valid_room_id(id))
      continue;
    if (looks_like_room_alias(id))
      r.add(severity::error, key,
            "'" + id + "' is a room alias; Hermes compares room ids, so it would never match",
            "use the room id (!...:server; Element: Room settings > Advanced)");
    else
      r.add(severity::error, key, "'" + id + "' is not a Matrix room id",
            "write it as !opaque:server, e.g. !CinRAVDERPuYUJSjBz:example.org");
  }
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

void read_identity(config_reader& r, profile_config& c) {
  c.homeserver = r.text("MATRIX_HOMESERVER");
  while (!c.homeserver.empty() && c.homeserver.back() == '/')
    c.homeserver.pop_back();
  if (const auto* e = r.get("MATRIX_ACCESS_TOKEN")) {
    c.access_token = secret(trim(e->value));
    if (has_space_or_control(c.access_token.reveal()))
      r.add(severity::error, "MATRIX_ACCESS_TOKEN", "contains a space or control character",
            "paste the token again as one word (the value is not shown here)");
  }
  if (const auto* e = r.get("MATRIX_PASSWORD"))
    c.password = secret(trim(e->value));
  c.user_id = r.text("MATRIX_USER_ID");
  c.device_id = r.text("MATRIX_DEVICE_ID");
  c.proxy = r.text("MATRIX_PROXY");
  if (const auto* e = r.get("MATRIX_RECOVERY_KEY"))
    c.recovery_key = secret(trim(e->value));
  if (const auto* e = r.get("MATRIX_PICKLE_KEY"))
    c.pickle_key = secret(trim(e->value));

  if (c.on_matrix() && c.homeserver.empty())
    r.add(severity::error, "MATRIX_HOMESERVER",
          "is not set, but the profile has MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD",
          "add MATRIX_HOMESERVER=https://your.homeserver");
  check_url(r, "MATRIX_HOMESERVER", c.homeserver, "http,https", "https://matrix.example.org");
  if (!c.homeserver.empty() && !url_problem(c.homeserver, "http,https") &&
      lower(c.homeserver).rfind("http://", 0) == 0) {
    std::string host = url_host(c.homeserver);
    if (host != "localhost" && host != "127.0.0.1" && host != "[::1]")
      r.add(severity::warning, "MATRIX_HOMESERVER",
            "uses plain http to a host that is not this machine; the access token travels unencrypted",
            "use https://");
  }
  check_url(r, "MATRIX_PROXY", c.proxy, "http,https,socks4,socks4a,socks5,socks5h",
            "http://proxy.example.org:3128");
  if (!c.user_id.empty())
    check_user_id(r, "MATRIX_USER_ID", c.user_id);
  if (!c.password.empty() && c.access_token.empty() && c.user_id.empty())
    r.add(severity::error, "MATRIX_PASSWORD", "password login needs MATRIX_USER_ID",
          "add MATRIX_USER_ID=@bot:your.server, or use MATRIX_ACCESS_TOKEN instead");
  if (has_space_or_control(c.device_id))
    r.add(severity::error, "MATRIX_DEVICE_ID", "contains a space or control character",
          "use a device id such as HERMES_CODER");
}

void read_encryption(config_reader& r, profile_config& c) {
  if (const auto* e = r.get("MATRIX_E2EE_MODE")) {
    std::string v = lower(trim(e->value));
    if (one_of(v, {"required", "require", "true", "1", "yes", "on"}))
      c.e2ee = e2ee_mode::required;
    else if (one_of(v, {"optional", "prefer", "preferred"}))
      c.e2ee = e2ee_mode::optional;
    else {
      c.e2ee = e2ee_mode::off;
      // Hermes silently turns encryption off for a misspelt mode; a typo must not
      // quietly mean plaintext, so anything but an explicit "off" word is an error.
      if (!one_of(v, {"off", "false", "0", "no", "none", "disabled", "disable"}))
        r.add(severity::error, "MATRIX_E2EE_MODE",
              "'" + trim(e->value) + "' is not off, optional or required (Hermes would read it as off)",
              "write off, optional or required");
    }
    if (r.get("MATRIX_ENCRYPTION") && r.flag_default_false("MATRIX_ENCRYPTION") &&
        c.e2ee != e2ee_mode::required)
      r.add(severity::warning, "MATRIX_ENCRYPTION",
            std::string("is true, but MATRIX_E2EE_MODE wins and says ") + to_string(c.e2ee),
            "delete MATRIX_ENCRYPTION (it is the legacy name)");
  } else if (r.flag_default_false("MATRIX_ENCRYPTION")) {
    c.e2ee = e2ee_mode::required;
  }
  if (const auto* e = r.get("MATRIX_KEY_BACKUP")) {
    std::string v = lower(trim(e->value));
    c.create_key_backup = v == "create";
    if (v != "create" && v != "off")
      r.add(severity::error, "MATRIX_KEY_BACKUP", "'" + trim(e->value) + "' is not off or create",
            "write create (make a key backup when the account has none) or off");
  }
  if (const auto* e = r.get("HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS")) {
    std::string v = trim(e->value);
    std::size_t used = 0;
    long n = -1;
    try {
      n = std::stol(v, &used, 10);
    } catch (const std::exception&) {
    }
    if (used != v.size() || v.empty() || n < 0 || n > 86400)
      r.add(severity::error, "HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS",
            "'" + v + "' is not a number of seconds from 0 to 86400",
            "write how many seconds a message may wait for its key (0: never tell the room)");
    else
      c.undecryptable_notice_seconds = static_cast<int>(n);
  }
}

void read_policy(config_reader& r, profile_config& c) {
  // Hermes (gateway authz) merges the gateway-wide GATEWAY_ALLOWED_USERS into every
  // platform's list, and "*" in either list lets everyone in. Here "*" becomes
  // allow_all_users, so policy code never has to know about it.
  bool star = false;
  for (auto& u : r.list("MATRIX_ALLOWED_USERS")) {
    if (u == "*") {
      star = true;
      r.add(severity::warning, "MATRIX_ALLOWED_USERS", "'*' lets every Matrix user talk to the bot",
            "prefer MATRIX_ALLOW_ALL_USERS=true if that is what you mean, else list user ids");
      continue;
    }
    check_user_id(r, "MATRIX_ALLOWED_USERS", u);
    c.allowed_users.push_back(std::move(u));
  }
  for (auto& u : r.list("GATEWAY_ALLOWED_USERS")) {
    // Entries for other platforms (Telegram ids, phone numbers) are not ours to judge.
    if (u == "*")
      star = true;
    else if (user_id_syntax(u) != id_syntax::invalid &&
             std::find(c.allowed_users.begin(), c.allowed_users.end(), u) == c.allowed_users.end())
      c.allowed_users.push_back(std::move(u));
  }
  c.allow_all_users = star || r.flag_default_false("MATRIX_ALLOW_ALL_USERS") ||
                      r.flag_default_false("GATEWAY_ALLOW_ALL_USERS");
  c.allowed_rooms = r.list("MATRIX_ALLOWED_ROOMS");
  check_room_ids(r, "MATRIX_ALLOWED_ROOMS", c.allowed_rooms);
  c.free_response_rooms = r.list("MATRIX_FREE_RESPONSE_ROOMS");
  check_room_ids(r, "MATRIX_FREE_RESPONSE_ROOMS", c.free_response_rooms);
  c.require_mention = r.flag_default_true("MATRIX_REQUIRE_MENTION", {"false", "0", "no", "off"});

  c.ignore_user_patterns = r.list("MATRIX_IGNORE_USER_PATTERNS");
  for (const auto& pattern : c.ignore_user_patterns) {
    if (!valid_ecmascript_regex(pattern)) {
      r.add(severity::error, "MATRIX_IGNORE_USER_PATTERNS",
            "pattern '" + pattern + "' is not a valid regular expression",
            "fix it (ECMAScript syntax; Python's (?i) and (?P<name>) are not supported), "
            "or remove it");
    }
  }
  c.process_notices = r.flag_default_false("MATRIX_PROCESS_NOTICES");
  if (r.get("MATRIX_AUTO_THREAD"))
    c.auto_thread = r.flag_default_false("MATRIX_AUTO_THREAD"); // default "true", true/1/yes

  if (const auto* e = r.get("MATRIX_SESSION_SCOPE")) {
    std::string v = lower(trim(e->value));
    if (v == "auto")
      c.scope = session_scope::automatic;
    else if (v == "room")
      c.scope = session_scope::room;
    else if (v == "thread")
      c.scope = session_scope::thread;
    else
      r.add(severity::warning, "MATRIX_SESSION_SCOPE",
            "'" + trim(e->value) + "' is not auto, room or thread; auto is used (as Hermes does)",
            "write auto, room or thread");
  }

  if (const auto* e = r.get("HERMES_GATEWAY_BUSY_INPUT_MODE")) {
    std::string v = lower(trim(e->value));
    if (v == "queue")
      c.busy_queue = true;
    else if (v != "interrupt")
      r.add(severity::warning, "HERMES_GATEWAY_BUSY_INPUT_MODE",
            "'" + trim(e->value) + "' is not interrupt or queue; interrupt is used"
              + (v == "steer" ? " (steering needs the agent in-process)" : ""),
            "write interrupt or queue");
  }

  c.home_room = r.text("MATRIX_HOME_ROOM");
  if (!c.home_room.empty())
    check_room_ids(r, "MATRIX_HOME_ROOM", {c.home_room});

  if (const auto* e = r.get("MATRIX_MAX_MESSAGE_LENGTH")) {
    std::string v = trim(e->value);
    std::string digits = v;
    digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end()); // int("16_000")
    std::size_t used = 0;
    long n = 0;
    bool number = false;
    try {
      n = std::stol(digits, &used, 10);
      number = used == digits.size() && digits.find_first_not_of("+-0123456789") == std::string::npos;
    } catch (const std::exception&) {
    }
    if (!number) {
      c.max_message_length = 16000;
      r.add(severity::warning, "MATRIX_MAX_MESSAGE_LENGTH",
            "'" + v + "' is not a whole number; 16000 is used (as Hermes does)",
            "write a number from 500 to 65535");
    } else {
      long clamped = std::clamp(n, 500L, 65535L);
      c.max_message_length = static_cast<int>(clamped);
      if (clamped != n)
        r.add(severity::warning, "MATRIX_MAX_MESSAGE_LENGTH",
              v + " is outside 500..65535; " + std::to_string(clamped) + " is used (as Hermes does)",
              "write a number from 500 to 65535");
    }
  }
  c.reactions = r.flag_default_true("MATRIX_REACTIONS", {"false", "0", "no"});

  if (c.on_matrix() && c.allowed_users.empty() && !c.allow_all_users)
    r.add_at(severity::warning, 0, "MATRIX_ALLOWED_USERS",
             "is empty and MATRIX_ALLOW_ALL_USERS is not set, so the bot answers nobody",
             "add MATRIX_ALLOWED_USERS=@you:your.server");
}

void read_backend(config_reader& r, profile_config& c) {
  c.agent_url = r.text("GATEWAY_PROXY_URL");
  while (!c.agent_url.empty() && c.agent_url.back() == '/')
    c.agent_url.pop_back();
  check_url(r, "GATEWAY_PROXY_URL", c.agent_url, "http,https", "http://127.0.0.1:8642");
  if (const auto* e = r.get("GATEWAY_PROXY_KEY"))
    c.agent_key = secret(trim(e->value));
  c.agent_model = r.text("HERMES_MATRIX_MODEL");
  if (c.agent_model.empty())
    c.agent_model = c.name;
  if (const auto* e = r.get("HERMES_MATRIX_SEND_HISTORY")) {
    std::string v = lower(trim(e->value));
    if (one_of(v, {"true", "1", "yes", "on"}))
      c.send_history = true;
    else if (one_of(v, {"false", "0", "no", "off"}))
      c.send_history = false;
    else
      r.add(severity::error, "HERMES_MATRIX_SEND_HISTORY", "is not true or false",
            "write true, false, or delete the line to decide by the backend");
  }
  c.agent_silence_s = r.seconds("HERMES_MATRIX_AGENT_SILENCE", 5, 3600, c.agent_silence_s);
  c.approval_timeout_s =
    r.seconds("MATRIX_APPROVAL_TIMEOUT_SECONDS", 1, 86400, c.approval_timeout_s);
  if (const auto* e = r.get("MATRIX_APPROVAL_REQUIRE_SENDER")) {
    std::string v = trim(e->value);
    if (one_of(v, {"false", "0", "no", "off"}))
      c.approval_require_sender = false;
    else if (!one_of(v, {"true", "1", "yes", "on"}))
      r.add(severity::warning, "MATRIX_APPROVAL_REQUIRE_SENDER", "is not true or false",
            "write true (only the person who asked answers an approval) or false");
  }
  c.node = r.text("HERMES_MATRIX_NODE");
  if (has_space_or_control(c.node))
    r.add(severity::error, "HERMES_MATRIX_NODE", "contains a space or control character",
          "write the node name as one word");
}

/// A broken STT URL only turns speech-to-text off (a warning): the chat still works.
void checked_stt_url(config_reader& r, std::string_view key, std::string& url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  if (auto why = url_problem(url, "http,https")) {
    r.add(severity::warning, key, "is not a valid URL: it " + *why + "; voice messages are "
          "not transcribed", "write an absolute URL such as http://127.0.0.1:8000/v1");
    url.clear();
  }
}

/// Speech-to-text the way Hermes resolves it (tools/transcription_tools.py): the
/// provider from config.yaml, its key, base URL and default model from the .env.
void read_stt(config_reader& r, stt_settings& stt, const stt_yaml& yaml) {
  stt.enabled = yaml.enabled.value_or(true);
  stt.echo_transcripts = yaml.top_echo_transcripts.value_or(yaml.echo_transcripts.value_or(true));
  if (!yaml.provider.empty())
    stt.provider = lower(trim(yaml.provider));
  stt.language = !yaml.provider_language.empty() ? yaml.provider_language : yaml.language;
  stt.prompt = yaml.prompt;
  auto key_of = [&](std::string_view name) {
    auto v = r.text(name);
    return v.empty() ? secret{} : secret{v};
  };
  if (stt.provider == "openai") {
    stt.base_url = r.text("STT_OPENAI_BASE_URL");
    if (stt.base_url.empty())
      stt.base_url = "https://api.openai.com/v1";
    checked_stt_url(r, "STT_OPENAI_BASE_URL", stt.base_url);
    stt.api_key = key_of("VOICE_TOOLS_OPENAI_KEY");
    if (stt.api_key.empty())
      stt.api_key = key_of("OPENAI_API_KEY");
    stt.model = !yaml.provider_model.empty() ? yaml.provider_model : r.text("STT_OPENAI_MODEL");
    if (stt.model.empty())
      stt.model = "whisper-1";
  } else if (stt.provider == "groq") {
    stt.base_url = r.text("GROQ_BASE_URL");
    if (stt.base_url.empty())
      stt.base_url = "https://api.groq.com/openai/v1";
    checked_stt_url(r, "GROQ_BASE_URL", stt.base_url);
    stt.api_key = key_of("GROQ_API_KEY");
    stt.model = !yaml.provider_model.empty() ? yaml.provider_model : r.text("STT_GROQ_MODEL");
    if (stt.model.empty())
      stt.model = "whisper-large-v3-turbo";
  }
  // A cloud provider without its key cannot transcribe; a local whisper server behind
  // STT_OPENAI_BASE_URL usually needs none, so only the public endpoints are checked.
  bool public_endpoint = stt.base_url.rfind("https://api.", 0) == 0;
  if (stt.enabled && public_endpoint && stt.api_key.empty()) {
    r.add(severity::warning, stt.provider == "groq" ? "GROQ_API_KEY" : "VOICE_TOOLS_OPENAI_KEY",
          "is not set, so voice messages cannot be transcribed with stt.provider " + stt.provider,
          "add the key to the profile's .env");
    stt.base_url.clear();
  }
}

void read_media(config_reader& r, media_settings& m, const stt_yaml& yaml) {
  m.max_bytes = static_cast<std::uint64_t>(r.number("HERMES_MATRIX_MEDIA_MAX_MB", 1, 1024,
                                                    static_cast<int>(m.max_bytes >> 20), "MB"))
                << 20;
  m.image_max_side =
    r.number("HERMES_MATRIX_IMAGE_MAX_SIDE", 256, 8192, m.image_max_side, "pixels");
  m.max_files_per_reply =
    r.number("HERMES_MATRIX_MEDIA_MAX_FILES", 1, 50, m.max_files_per_reply, "files");
  for (auto& dir : r.list("HERMES_MATRIX_MEDIA_DIRS")) {
    if (dir.empty() || dir.front() != '/') {
      r.add(severity::warning, "HERMES_MATRIX_MEDIA_DIRS",
            "'" + dir + "' is not an absolute folder; it is left out",
            "write absolute folders, separated by commas");
      continue;
    }
    m.send_dirs.push_back(dir);
  }
  read_stt(r, m.stt, yaml);
}

} // namespace

loaded_profile make_profile(const std::string& name, const std::filesystem::path& dir,
                            const dotenv_file& env, const stt_yaml& stt) {
  loaded_profile out;
  out.issues = env.issues;
  profile_config& c = out.config;
  c.name = name;
  c.dir = dir;
  c.env_file = env.path;
  for (const auto& e : env.entries)
    out.key_lines[e.key] = e.line; // the last assignment is the one that counts
  config_reader r(env, out.issues);
  if (name != "default" && !valid_profile_name(name))
    r.add_at(severity::error, 0, {},
             "profile name '" + name + "' does not match ^[a-z0-9][a-z0-9_-]{0,63}$",
             "rename the directory (Hermes would not accept it either)");
  read_identity(r, c);
  read_encryption(r, c);
  read_policy(r, c);
  read_backend(r, c);
  read_media(r, c.media, stt);
  return out;
}

loaded_profile load_profile(const std::string& name, const std::filesystem::path& dir) {
  std::filesystem::path env_path = dir / ".env";
  std::error_code ec;
  if (!std::filesystem::exists(env_path, ec)) {
    dotenv_file empty;
    empty.path = env_path;
    return make_profile(name, dir, empty);
  }
  problems yaml_issues;
  auto stt = read_stt_yaml(dir / "config.yaml", yaml_issues);
  dotenv_file env = read_dotenv(env_path);
  interpolate_dotenv(env, [](const std::string& var) -> std::optional<std::string> {
    const char* v = std::getenv(var.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  loaded_profile out = make_profile(name, dir, env, stt);
  out.issues.insert(out.issues.end(), yaml_issues.begin(), yaml_issues.end());
  struct stat st{};
  if (out.config.on_matrix() && ::stat(env_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    problem p;
    p.level = severity::warning;
    p.file = env_path;
    p.message = "holds secrets but other users may read it";
    p.fix = "chmod 600 " + env_path.string();
    // Writable by others is worse: anyone could make the bot answer them.
    if (others_may_write(st)) {
      p.level = severity::error;
      p.message = "other users may change it (and so who the bot answers)";
    }
    out.issues.push_back(std::move(p));
  }
  // Another user who can write the profile's folder can swap the store, keys and
  // logs in it for their own; the store refuses to open there, and check says so.
  if (out.config.on_matrix() && ::stat(dir.c_str(), &st) == 0 && others_may_write(st)) {
    problem p;
    p.level = severity::error;
    p.file = dir;
    p.message = "the profile's folder is writable by other users";
    p.fix = "chmod go-w " + dir.string();
    out.issues.push_back(std::move(p));
  }
  return out;
}

void check_across_profiles(std::vector<loaded_profile>& all) {
  auto add = [](loaded_profile& to, const loaded_profile& other, const char* key, int line,
                std::string message, std::string fix) {
    problem p;
    p.level = severity::error;
    p.file = to.config.env_file;
    p.line = line;
    p.key = key;
    p.message = std::move(message) + " profile '" + other.config.name + "' (" +
                other.config.env_file.string() + ")";
    p.fix = std::move(fix);
    to.issues.push_back(std::move(p));
  };
  auto line_of = [](const loaded_profile& p, std::string_view key) {
    auto it = p.key_lines.find(key);
    return it == p.key_lines.end() ? 0 : it->second;
  };
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t j = i + 1; j < all.size(); ++j) {
      auto& a = all[i];
      auto& b = all[j];
      if (!a.config.access_token.empty() && a.config.access_token == b.config.access_token) {
        const char* fix = "give each profile its own bot account or device and its own token";
        add(a, b, "MATRIX_ACCESS_TOKEN", line_of(a, "MATRIX_ACCESS_TOKEN"), "the same access token is also used by", fix);
        add(b, a, "MATRIX_ACCESS_TOKEN", line_of(b, "MATRIX_ACCESS_TOKEN"), "the same access token is also used by", fix);
      }
      if (!a.config.user_id.empty() && a.config.user_id == b.config.user_id &&
          a.config.device_id != b.config.device_id) {
        // Two devices of one account: legal, but both bots see and answer the same rooms.
        for (auto [to, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
          add(*to, *other, "MATRIX_USER_ID", line_of(*to, "MATRIX_USER_ID"),
              "user " + to->config.user_id + " is also the bot account of", "give each profile its own bot account");
          to->issues.back().level = severity::warning;
        }
      }
      if (!a.config.user_id.empty() && !a.config.device_id.empty() &&
          a.config.user_id == b.config.user_id && a.config.device_id == b.config.device_id) {
        const char* fix = "set a different MATRIX_DEVICE_ID in one of them (each bot needs its own device)";
        add(a, b, "MATRIX_DEVICE_ID", line_of(a, "MATRIX_DEVICE_ID"),
            "user " + a.config.user_id + " with device " + a.config.device_id + " is also used by", fix);
        add(b, a, "MATRIX_DEVICE_ID", line_of(b, "MATRIX_DEVICE_ID"),
            "user " + b.config.user_id + " with device " + b.config.device_id + " is also used by", fix);
      }
    }
  }
}

} // namespace hm::profiles
