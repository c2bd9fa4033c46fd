#pragma once

#include "profiles/dotenv.hpp"
#include "profiles/media_settings.hpp"
#include "profiles/problem.hpp"
#include "profiles/secret.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm::profiles {

/// MATRIX_E2EE_MODE (legacy MATRIX_ENCRYPTION=true means required).
enum class e2ee_mode { off, optional, required };

/// MATRIX_SESSION_SCOPE: how conversations map to agent sessions.
enum class session_scope { automatic, room, thread };

[[nodiscard]] const char* to_string(e2ee_mode m);
[[nodiscard]] const char* to_string(session_scope s);

/// Everything hermes-matrix reads from one Hermes profile, with Hermes' defaults.
/// Env names: ../shared/reference/hermes-compat.md.
struct profile_config {
  std::string name;              // "default" or the directory name under profiles/
  std::filesystem::path dir;     // the profile directory (HERMES_HOME for default)
  std::filesystem::path env_file;

  // Matrix identity.
  std::string homeserver;        // MATRIX_HOMESERVER, trailing '/' stripped
  secret access_token;           // MATRIX_ACCESS_TOKEN
  std::string user_id;           // MATRIX_USER_ID
  secret password;               // MATRIX_PASSWORD
  std::string device_id;         // MATRIX_DEVICE_ID
  std::string proxy;             // MATRIX_PROXY (HTTP proxy for the homeserver)

  // Encryption.
  e2ee_mode e2ee = e2ee_mode::off;
  secret recovery_key;           // MATRIX_RECOVERY_KEY
  /// MATRIX_KEY_BACKUP=create: without MATRIX_RECOVERY_KEY, an account without a key
  /// backup (and without secret storage) gets one, its recovery key written once to a
  /// file beside the store. Unset or "off": nothing is created.
  bool create_key_backup = false;
  secret pickle_key;             // MATRIX_PICKLE_KEY (else a key file beside the store)
  /// HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS: how long an encrypted message may wait
  /// for its key before the room is told it could not be read (0: never told).
  int undecryptable_notice_seconds = 60;

  // Who and where.
  std::vector<std::string> allowed_users;       // MATRIX_ALLOWED_USERS + MXIDs of GATEWAY_ALLOWED_USERS
  bool allow_all_users = false;                 // MATRIX_ALLOW_ALL_USERS / GATEWAY_ALLOW_ALL_USERS, or "*" in a list
  std::vector<std::string> allowed_rooms;       // MATRIX_ALLOWED_ROOMS (empty: all)
  std::vector<std::string> free_response_rooms; // MATRIX_FREE_RESPONSE_ROOMS
  bool require_mention = true;                  // MATRIX_REQUIRE_MENTION
  std::vector<std::string> ignore_user_patterns;// MATRIX_IGNORE_USER_PATTERNS (regexes)
  bool process_notices = false;                 // MATRIX_PROCESS_NOTICES
  bool auto_thread = true;                      // MATRIX_AUTO_THREAD
  session_scope scope = session_scope::automatic; // MATRIX_SESSION_SCOPE
  std::string home_room;                        // MATRIX_HOME_ROOM
  int max_message_length = 16000;               // MATRIX_MAX_MESSAGE_LENGTH (500..65535)
  bool reactions = true;                        // MATRIX_REACTIONS

  // Agent backend (Hermes proxy mode or any OpenAI-compatible server).
  std::string agent_url;         // GATEWAY_PROXY_URL
  secret agent_key;              // GATEWAY_PROXY_KEY
  std::string agent_model;       // HERMES_MATRIX_MODEL, default: the profile name
  /// HERMES_MATRIX_SEND_HISTORY: send SOUL.md and recent history in `messages`
  /// (for plain OpenAI-compatible servers). Unset: decided by the backend kind.
  std::optional<bool> send_history;
  /// HERMES_GATEWAY_BUSY_INPUT_MODE (Hermes' display.busy_input_mode): a message
  /// for a conversation that is still being answered interrupts it (false, the
  /// default) or waits for it (true, "queue").
  bool busy_queue = false;
  /// HERMES_MATRIX_AGENT_SILENCE: seconds without a byte from the agent backend (Hermes
  /// sends a keepalive every 30 s) after which a turn is given up (5..3600).
  int agent_silence_s = 120;
  /// MATRIX_APPROVAL_TIMEOUT_SECONDS (Hermes' name): how long an approval prompt waits
  /// for its answer; then it shows that the command was not run.
  int approval_timeout_s = 300;
  /// MATRIX_APPROVAL_REQUIRE_SENDER (Hermes' name, default true): only the person whose
  /// message led to the prompt may answer it; false: any allowed user.
  bool approval_require_sender = true;

  // Images, voice and files (HERMES_MATRIX_MEDIA_*, config.yaml's stt).
  media_settings media;

  // Placement in a cluster.
  std::string node;              // HERMES_MATRIX_NODE (pin to a node)

  /// A profile is on Matrix when it has an access token or a password.
  [[nodiscard]] bool on_matrix() const {
    return !access_token.empty() || !password.empty();
  }

  /// Field by field (secrets compared by value, never printed): a reload restarts a
  /// profile exactly when its effective config is not equal to the running one.
  friend bool operator==(const profile_config&, const profile_config&) = default;
};

/// A profile as loaded from disk: its config and every problem found in it.
struct loaded_profile {
  profile_config config;
  problems issues;
  /// Line of the effective assignment of each key in the .env (for problems that are
  /// found later, e.g. by check_across_profiles). Lines only, never values.
  std::map<std::string, int, std::less<>> key_lines;

  /// On Matrix and free of errors (warnings allowed).
  [[nodiscard]] bool usable() const { return config.on_matrix() && !has_errors(issues); }
};

/// Builds and validates the config of profile `name` from its parsed .env.
/// Validation: URL syntax of MATRIX_HOMESERVER/GATEWAY_PROXY_URL/MATRIX_PROXY,
/// MXID syntax (MATRIX_USER_ID, MATRIX_ALLOWED_USERS), room id syntax
/// (MATRIX_ALLOWED_ROOMS, MATRIX_FREE_RESPONSE_ROOMS, MATRIX_HOME_ROOM), regex
/// syntax (MATRIX_IGNORE_USER_PATTERNS), booleans, enums and numeric ranges.
/// `stt` is the profile's config.yaml speech-to-text section (read_stt_yaml).
[[nodiscard]] loaded_profile make_profile(const std::string& name,
                                          const std::filesystem::path& dir,
                                          const dotenv_file& env, const stt_yaml& stt = {});

/// Reads `<dir>/.env` and `<dir>/config.yaml` and calls make_profile. A missing .env is not an error
/// (the profile is simply not on Matrix).
[[nodiscard]] loaded_profile load_profile(const std::string& name,
                                          const std::filesystem::path& dir);

/// Checks that span profiles: the same access token in two profiles (both get an
/// error naming the other), the same user and device id in two profiles.
void check_across_profiles(std::vector<loaded_profile>& all);

} // namespace hm::profiles
