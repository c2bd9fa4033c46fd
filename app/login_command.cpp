#include "app/blocking_client.hpp"
#include "app/commands.hpp"
#include "app/credentials.hpp"

#include "matrix/client_api.hpp"
#include "profiles/discovery.hpp"
#include "profiles/identifiers.hpp"

#include <sys/stat.h>

#include <iostream>

namespace hm {

namespace {

/// The first error a profile has for `key` (its homeserver or user), if any.
const profiles::problem* error_for(const profiles::loaded_profile& lp, std::string_view key) {
  for (auto& p : lp.issues)
    if (p.level == profiles::problem::severity::error && p.key == key)
      return &p;
  return nullptr;
}

} // namespace

int login_command(const login_options& o) {
  ::umask(077);
  auto home = o.hermes_home.empty() ? profiles::default_hermes_home() : o.hermes_home;
  auto dir = profile_directory(home, o.profile);
  if (!dir) {
    std::cerr << "hermes-matrix login: '" << o.profile
              << "' is not a Hermes profile name ([a-z0-9][a-z0-9_-]{0,63}, or default)\n";
    return exit_usage;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(*dir, ec))
    return fail("login", "there is no profile '" + o.profile + "' (" + dir->string()
                           + " is not a directory); create it first, or use "
                             "`hermes-matrix provision`");
  auto lp = profiles::load_profile(o.profile, *dir);
  auto& c = lp.config;
  if (auto* p = error_for(lp, "MATRIX_HOMESERVER"))
    return fail("login", p->to_string());
  if (auto* p = error_for(lp, "MATRIX_USER_ID"); p != nullptr && o.user.empty())
    return fail("login", p->to_string());
  if (c.homeserver.empty())
    return fail("login", "MATRIX_HOMESERVER is not set in " + c.env_file.string()
                           + "; add the homeserver's URL there first");
  auto user = o.user.empty() ? c.user_id : o.user;
  if (user.empty())
    return fail("login", "no MATRIX_USER_ID in " + c.env_file.string()
                           + "; pass --user @bot:example.org");
  if (!c.access_token.empty() && !o.force)
    return fail("login", "profile '" + o.profile + "' already has MATRIX_ACCESS_TOKEN in "
                           + c.env_file.string()
                           + "; pass --force to replace it with a new login");
  auto password = read_password(o.password_stdin, "Password for " + user + ": ");
  if (!password)
    return exit_failure;
  // Keep the profile's device (and with it its E2EE identity) when it is the same user.
  std::optional<std::string_view> device;
  if (!c.device_id.empty() && (c.user_id.empty() || c.user_id == user))
    device = c.device_id;
  blocking_client client{c.homeserver, c.proxy};
  auto login = client.call(matrix::password_login_request(user, password->reveal(), device),
                           matrix::parse_login);
  if (!login)
    return fail("login", "logging in as " + user + " on "
                           + profiles::printable_url(c.homeserver)
                           + " failed: " + matrix::to_string(login.error()));
  if (auto written = write_credentials(c.env_file, login.value()); !written)
    return fail("login", "logged in, but could not write " + c.env_file.string() + ": "
                           + written.error().message);
  std::cout << "Logged in as " << login->user_id << " on "
            << profiles::printable_url(c.homeserver) << " (device "
            << login->device_id << ").\n"
            << "Wrote MATRIX_ACCESS_TOKEN, MATRIX_USER_ID and MATRIX_DEVICE_ID to "
            << c.env_file.string() << ".\n"
            << "A running hermes-matrix picks it up on reload (systemctl reload hermes-matrix, "
               "or kill -HUP).\n";
  return exit_ok;
}

} // namespace hm
