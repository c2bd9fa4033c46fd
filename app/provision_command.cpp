#include "app/blocking_client.hpp"
#include "app/commands.hpp"
#include "app/credentials.hpp"

#include "matrix/client_api.hpp"
#include "matrix/synapse_admin.hpp"
#include "profiles/discovery.hpp"
#include "profiles/dotenv.hpp"
#include "profiles/identifiers.hpp"

#include <sys/random.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace hm {

namespace {

constexpr const char* cmd = "provision";

/// A password nobody types: 32 random bytes as 43 base64url characters.
std::optional<secret> generate_password() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    auto n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return std::nullopt;
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (auto b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63u]);
    }
  }
  if (bits > 0)
    out.push_back(alphabet[(acc << (6 - bits)) & 63u]);
  std::fill(std::begin(bytes), std::end(bytes), 0);
  return secret{std::move(out)};
}

/// The admin's token: the file's first line, without surrounding whitespace.
std::optional<secret> read_admin_token(const std::filesystem::path& file, std::string& why) {
  std::ifstream in(file);
  if (!in) {
    why = "cannot read the admin token file " + file.string();
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  auto first = line.find_first_not_of(" \t\r\n");
  auto last = line.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) {
    why = "the admin token file " + file.string() + " is empty";
    return std::nullopt;
  }
  return secret{line.substr(first, last - first + 1)};
}

std::string default_localpart(const std::string& profile) {
  return profile == "default" ? "hermes" : "hermes-" + profile;
}

std::string default_displayname(const std::string& profile) {
  return profile == "default" ? "Hermes" : "Hermes " + profile;
}

} // namespace

int provision_command(const provision_options& o) {
  ::umask(077);
  auto home = o.hermes_home.empty() ? profiles::default_hermes_home() : o.hermes_home;
  auto dir = profile_directory(home, o.profile);
  if (!dir) {
    std::cerr << "hermes-matrix provision: '" << o.profile
              << "' is not a Hermes profile name ([a-z0-9][a-z0-9_-]{0,63}, or default)\n";
    return exit_usage;
  }
  if (auto why = profiles::url_problem(o.homeserver, "http,https")) {
    std::cerr << "hermes-matrix provision: --homeserver: " << *why << '\n';
    return exit_usage;
  }
  auto env_file = *dir / ".env";
  std::error_code ec;
  profiles::loaded_profile existing;
  if (std::filesystem::exists(env_file, ec)) {
    existing = profiles::load_profile(o.profile, *dir);
    if (existing.config.on_matrix() && !o.force)
      return fail(cmd, "profile '" + o.profile + "' already has Matrix credentials "
                       "(MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD in " + env_file.string()
                       + "); pass --force to replace them");
  }
  std::string why;
  auto admin_token = read_admin_token(o.admin_token_file, why);
  if (!admin_token)
    return fail(cmd, why);

  blocking_client admin{o.homeserver};
  admin.set_access_token(*admin_token);
  // The server name is the admin's own: the homeserver's URL may be another host.
  auto me = admin.call(matrix::whoami_request(), matrix::parse_whoami);
  if (!me)
    return fail(cmd, "the admin token does not work on "
                     + profiles::printable_url(o.homeserver) + ": "
                     + matrix::to_string(me.error()));
  auto server_name = me->user_id.substr(me->user_id.find(':') + 1);
  auto user_id = o.user.empty() ? default_localpart(o.profile) : o.user;
  if (user_id.front() != '@')
    user_id = "@" + user_id + ":" + server_name;
  if (profiles::user_id_syntax(user_id) != profiles::id_syntax::valid)
    return fail(cmd, "'" + user_id + "' is not a valid Matrix user id "
                     "(localpart: lower-case letters, digits and ._=/+-)");

  auto found = admin.call(matrix::admin_get_user_request(user_id), matrix::parse_admin_get_user);
  if (!found)
    return fail(cmd, "looking up " + user_id + " failed: " + matrix::to_string(found.error()));
  // A provision that created this account and then could not log in left the profile's
  // .env naming it without credentials: finishing that needs no --force.
  bool our_half_done = existing.config.user_id == user_id && existing.config.access_token.empty()
                       && existing.config.password.empty();
  if (found.value() && !o.force && !our_half_done)
    return fail(cmd, user_id + " already exists on " + profiles::printable_url(o.homeserver)
                     + "; pass --force to give it a new password (this logs out its other "
                       "sessions) and use it for profile '" + o.profile + "'");
  if (found.value() && found.value()->deactivated)
    return fail(cmd, user_id + " is deactivated on " + profiles::printable_url(o.homeserver)
                     + "; reactivate it or choose another --user");

  auto password = generate_password();
  if (!password)
    return fail(cmd, "could not get random bytes for the password");
  auto displayname = o.displayname.empty() ? default_displayname(o.profile) : o.displayname;
  auto put = admin.call(matrix::admin_put_user_request(user_id, password->reveal(), displayname),
                        matrix::parse_admin_put_user);
  if (!put)
    return fail(cmd, "creating " + user_id + " failed: " + matrix::to_string(put.error()));

  // Name the account in the .env before logging in: should the login fail, running
  // provision again finishes this account (see our_half_done) instead of refusing it.
  std::filesystem::create_directories(*dir, ec);
  if (ec)
    return fail(cmd, "cannot create " + dir->string() + ": " + ec.message());
  if (auto written = profiles::write_dotenv_keys(env_file, {{"MATRIX_HOMESERVER", o.homeserver},
                                                           {"MATRIX_USER_ID", user_id}});
      !written)
    return fail(cmd, user_id + " was " + (put->created ? "created" : "updated") + ", but "
                     + env_file.string() + " could not be written: " + written.error().message
                     + "; run provision again with --force");

  // Keep the profile's device when it is the same bot (its E2EE identity stays).
  std::optional<std::string_view> device;
  if (!existing.config.device_id.empty() && existing.config.user_id == user_id)
    device = existing.config.device_id;
  blocking_client bot{o.homeserver};
  auto login = bot.call(matrix::password_login_request(user_id, password->reveal(), device),
                        matrix::parse_login);
  password.reset(); // the password is never kept: the token is what the bot needs
  if (!login)
    return fail(cmd, user_id + " was " + (put->created ? "created" : "updated")
                     + ", but logging in failed: " + matrix::to_string(login.error())
                     + "; run the same provision again to finish it");

  std::vector<std::pair<std::string, std::string>> extra{{"MATRIX_HOMESERVER", o.homeserver}};
  // A password in the .env no longer works (it was just replaced); the token wins anyway.
  if (!existing.config.password.empty())
    extra.emplace_back("MATRIX_PASSWORD", "");
  if (auto written = write_credentials(env_file, login.value(), extra); !written)
    return fail(cmd, user_id + " is ready, but " + env_file.string() + " could not be written: "
                     + written.error().message + "; run provision again with --force");

  // Synapse's default message rate limit (0.2/s, a burst of 10) would hold a busy bot's
  // replies back by seconds each: a bot is exempted, as its operator would do by hand.
  // Failing that is not failing the provision: the bot works, only slower.
  std::string rate_limit_note;
  if (!o.keep_rate_limit) {
    auto lifted = admin.call(matrix::admin_set_ratelimit_request(user_id, {0, 0}),
                             matrix::parse_admin_ratelimit);
    if (lifted)
      rate_limit_note = "Lifted the homeserver's message rate limit for " + user_id
                        + " (Synapse's override_ratelimit, 0 messages/s: none).\n";
    else
      std::cerr << "hermes-matrix provision: warning: could not lift the message rate limit "
                   "for "
                << user_id << " (" << matrix::to_string(lifted.error())
                << "); its replies may be held back under the homeserver's rate limit\n";
  }

  std::cout << (put->created ? "Created " : "Updated ") << user_id << " on "
            << profiles::printable_url(o.homeserver)
            << " (display name \"" << displayname << "\") and logged in as device "
            << login->device_id << ".\n"
            << "Wrote MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_DEVICE_ID and "
               "MATRIX_ACCESS_TOKEN to "
            << env_file.string() << ".\n"
            << "Its password is random and was not kept; `provision --force` replaces the "
               "login.\n"
            << rate_limit_note;
  if (existing.config.allowed_users.empty() && !existing.config.allow_all_users)
    std::cout << "Next: set MATRIX_ALLOWED_USERS (who may talk to the bot) in "
              << env_file.string() << ", then reload hermes-matrix.\n";
  else
    std::cout << "A running hermes-matrix picks it up on reload (systemctl reload "
                 "hermes-matrix, or kill -HUP).\n";
  return exit_ok;
}

} // namespace hm
