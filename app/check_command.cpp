#include "app/commands.hpp"
#include "app/text_table.hpp"

#include "matrix/crypto/secret_storage.hpp"
#include "profiles/discovery.hpp"
#include "profiles/dotenv.hpp"
#include "profiles/identifiers.hpp"

#include <iostream>

namespace hm {

namespace {

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

/// Who the bot is, as far as the files say: the MXID, or "(token)" when the
/// identity will only be known from /account/whoami.
std::string matrix_user(const profiles::profile_config& c) {
  if (!c.user_id.empty())
    return c.user_id;
  return c.access_token.empty() ? "-" : "(token)";
}

std::string allowed(const profiles::profile_config& c) {
  if (c.allow_all_users)
    return "all";
  return std::to_string(c.allowed_users.size());
}

size_t count(const profiles::problems& ps, profiles::problem::severity level) {
  size_t n = 0;
  for (auto& p : ps)
    n += p.level == level ? 1 : 0;
  return n;
}

std::string problem_summary(const profiles::loaded_profile& lp) {
  using sev = profiles::problem::severity;
  auto errors = count(lp.issues, sev::error);
  auto warnings = count(lp.issues, sev::warning);
  if (!lp.config.on_matrix() && errors == 0)
    return warnings == 0 ? "not on Matrix" : "not on Matrix, " + std::to_string(warnings) + " warning(s)";
  if (errors == 0 && warnings == 0)
    return "ok";
  std::string out;
  if (errors > 0)
    out = std::to_string(errors) + " error(s)";
  if (warnings > 0)
    out += (out.empty() ? "" : ", ") + std::to_string(warnings) + " warning(s)";
  return out;
}

/// MATRIX_RECOVERY_KEY must decode (base58, its prefix and its parity byte), or the
/// device is never cross-signed; said where the key is, never with the key.
void check_recovery_key(profiles::loaded_profile& lp) {
  auto& c = lp.config;
  if (c.recovery_key.empty() || matrix::crypto::decode_recovery_key(c.recovery_key.reveal()))
    return;
  auto env = profiles::read_dotenv(c.env_file);
  const auto* entry = env.find("MATRIX_RECOVERY_KEY");
  lp.issues.push_back({profiles::problem::severity::warning, c.env_file,
                       entry != nullptr ? entry->line : 0, "MATRIX_RECOVERY_KEY",
                       "is not a recovery key (its characters, length or parity do not fit "
                       "the 'EsT1 H3Wm ...' form Element shows); this device will not be "
                       "cross-signed",
                       "copy the recovery key again from where it was saved"});
}

} // namespace

int check_command(const profile_selection& selection) {
  auto home = selection.hermes_home.empty() ? profiles::default_hermes_home()
                                            : selection.hermes_home;
  auto set = profiles::load_profiles(home, selection.names);
  text_table table{{"PROFILE", "MATRIX USER", "HOMESERVER", "E2EE", "DEVICE", "HOME ROOM",
                    "ALLOWED USERS", "PROBLEMS"}};
  size_t on_matrix = 0;
  bool all_usable = !profiles::has_errors(set.issues);
  for (auto& lp : set.profiles) {
    auto& c = lp.config;
    check_recovery_key(lp);
    table.add_row({c.name, matrix_user(c), or_dash(profiles::printable_url(c.homeserver)),
                   c.on_matrix() ? to_string(c.e2ee) : "-", or_dash(c.device_id),
                   or_dash(c.home_room), c.on_matrix() ? allowed(c) : "-",
                   problem_summary(lp)});
    if (c.on_matrix())
      ++on_matrix;
    // A profile named on the command line must be usable; one found by
    // discovery without Matrix settings is simply not served.
    bool selected = !selection.names.empty();
    if (profiles::has_errors(lp.issues) || (selected && !c.on_matrix()))
      all_usable = false;
  }
  std::cout << "Hermes home: " << set.hermes_home.string() << "\n\n";
  table.print(std::cout);
  bool header = false;
  auto print_problem = [&](const profiles::problem& p) {
    if (!header) {
      std::cout << "\nProblems:\n";
      header = true;
    }
    std::cout << "  " << p.to_string() << '\n';
  };
  for (auto& p : set.issues)
    print_problem(p);
  for (auto& lp : set.profiles) {
    for (auto& p : lp.issues)
      print_problem(p);
    if (!selection.names.empty() && !lp.config.on_matrix() && !profiles::has_errors(lp.issues))
      print_problem({profiles::problem::severity::error, lp.config.env_file, 0, "",
                     "profile '" + lp.config.name + "' is not on Matrix",
                     "set MATRIX_ACCESS_TOKEN (or MATRIX_USER_ID and MATRIX_PASSWORD) and "
                     "MATRIX_HOMESERVER in its .env"});
  }
  if (on_matrix == 0) {
    std::cout << "\nNo profile is on Matrix: give a profile MATRIX_HOMESERVER and "
                 "MATRIX_ACCESS_TOKEN (or MATRIX_USER_ID and MATRIX_PASSWORD) in its .env.\n";
    all_usable = false;
  }
  std::cout << '\n' << (all_usable ? "All profiles on Matrix are usable." : "Some profiles are not usable.")
            << '\n';
  return all_usable ? exit_ok : exit_failure;
}

} // namespace hm
