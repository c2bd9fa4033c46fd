// hermes-matrix: one service that puts every Hermes Agent profile on Matrix as
// its own bot. This file is only the command line; the commands live beside it.

#include "app/commands.hpp"

#include "hm/version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#ifdef HM_FAULT_SWITCH
namespace hm {
// hermes-matrix-faulty only (actors/fault_switch_hook.cpp): tests arm faults per profile.
void install_test_fault_switch();
} // namespace hm
#endif

namespace {

void add_selection(CLI::App& cmd, hm::profile_selection& sel) {
  cmd.add_option("--hermes-home", sel.hermes_home,
                 "Hermes home (default: $HERMES_HOME, else ~/.hermes)");
  cmd.add_option("--profile", sel.names,
                 "Only this profile (repeatable or comma-separated; 'default' is the "
                 "home itself)")
    ->delimiter(',');
}

} // namespace

int main(int argc, char** argv) {
#ifdef HM_FAULT_SWITCH
  hm::install_test_fault_switch();
#endif
  CLI::App app{"hermes-matrix: every Hermes Agent profile on Matrix as its own bot, "
               "in one service"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string{hm::version});

  hm::profile_selection check_sel;
  auto* check = app.add_subcommand("check", "Validate the profiles and print a table; "
                                            "exit 1 when a profile on Matrix is unusable");
  add_selection(*check, check_sel);

  hm::run_options run_opts;
  auto* run = app.add_subcommand("run", "Serve every profile on Matrix until SIGINT/SIGTERM");
  add_selection(*run, run_opts.selection);
  run->add_option("--log-level", run_opts.log_level, "trace, debug, info, warn, error")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
    ->capture_default_str();

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? hm::exit_ok : hm::exit_usage;
  }
  if (*version) {
    std::cout << "hermes-matrix " << hm::version << '\n';
    return hm::exit_ok;
  }
  if (*check)
    return hm::check_command(check_sel);
  if (*run)
    return hm::run_command(run_opts);
  return hm::exit_usage;
}
