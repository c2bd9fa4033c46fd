#include "app/credentials.hpp"
#include "app/commands.hpp"

#include "profiles/discovery.hpp"
#include "profiles/dotenv.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

namespace hm {

std::optional<std::filesystem::path> profile_directory(const std::filesystem::path& home,
                                                       const std::string& name) {
  if (name == "default")
    return home;
  if (!profiles::valid_profile_name(name))
    return std::nullopt;
  return home / "profiles" / name;
}

namespace {

void strip_line_end(std::string& s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
}

/// Reads one line from the terminal with echo off; the old settings come back
/// even when reading fails.
std::optional<secret> ask_on_terminal(const std::string& prompt) {
  int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) {
    std::cerr << "hermes-matrix: there is no terminal to ask for the password on; "
                 "pipe it in with --password-stdin\n";
    return std::nullopt;
  }
  // Echo goes off before the prompt shows: what is typed after it is never echoed
  // (or flushed away by TCSAFLUSH).
  termios old{};
  bool restore = ::tcgetattr(tty, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  (void)!::write(tty, prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  while (::read(tty, &c, 1) == 1 && c != '\n')
    line.push_back(c);
  if (restore)
    ::tcsetattr(tty, TCSAFLUSH, &old);
  ::close(tty);
  strip_line_end(line);
  secret s{std::move(line)};
  if (s.empty()) {
    std::cerr << "hermes-matrix: no password entered\n";
    return std::nullopt;
  }
  return s;
}

} // namespace

std::optional<secret> read_password(bool from_stdin, const std::string& prompt) {
  if (!from_stdin)
    return ask_on_terminal(prompt);
  std::string line;
  std::getline(std::cin, line);
  strip_line_end(line);
  secret s{std::move(line)};
  if (s.empty()) {
    std::cerr << "hermes-matrix: --password-stdin: no password on stdin\n";
    return std::nullopt;
  }
  return s;
}

hm::expected<void>
write_credentials(const std::filesystem::path& env_file, const matrix::login_response& login,
                  const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string_view, std::string_view>> keys;
  for (auto& [k, v] : extra)
    keys.emplace_back(k, v);
  keys.emplace_back("MATRIX_USER_ID", login.user_id);
  keys.emplace_back("MATRIX_DEVICE_ID", login.device_id);
  keys.emplace_back("MATRIX_ACCESS_TOKEN", login.access_token);
  return profiles::write_dotenv_keys(env_file, keys);
}

int fail(const char* command, const std::string& text) {
  std::cerr << "hermes-matrix " << command << ": " << text << '\n';
  return exit_failure;
}

} // namespace hm
