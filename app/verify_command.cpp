// `hermes-matrix verify`: the operator's side of an SAS verification of a profile's
// device. Waits (through the admin API) for a verification to reach the emoji stage,
// shows the emoji and numbers, and asks whether they match (or acts at once with
// --confirm / --reject); nobody answering in time cancels it (m.timeout).

#include "app/admin_client.hpp"
#include "app/commands.hpp"

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

namespace hm {

namespace {

using clock = std::chrono::steady_clock;

constexpr auto poll_interval = std::chrono::milliseconds{500};
/// After a confirmation, how long to wait at least for the other side's.
constexpr auto confirm_grace = std::chrono::seconds{30};

std::string text_of(const nlohmann::json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>() : std::string{};
}

/// Waiting for the operator: the SAS is shown (both keys known, not finished).
bool at_emoji_stage(const nlohmann::json& v) {
  auto state = text_of(v, "state");
  auto emoji = v.find("emoji");
  return (state == "keys_exchanged" || state == "their_mac_ok") && emoji != v.end()
         && emoji->is_array() && !emoji->empty();
}

bool finished(const nlohmann::json& v) {
  auto state = text_of(v, "state");
  return state == "done" || state == "cancelled";
}

struct verify_session {
  const verify_options& options;
  admin_access access;
  blocking_client client;

  /// The profile's verifications, or the exit code (the reason printed).
  std::variant<nlohmann::json, int> list() {
    matrix::http_request get;
    get.target = "/v1/profiles/" + options.profile + "/verifications";
    get.timeout = std::chrono::seconds{15};
    auto answer = admin_call(client, access, get, "verify");
    if (auto* code = std::get_if<int>(&answer))
      return *code;
    auto& body = std::get<nlohmann::json>(answer);
    auto list = body.find("verifications");
    if (body["http_status"] != 200 || list == body.end() || !list->is_array()) {
      std::cerr << "hermes-matrix verify: " << options.profile << ": "
                << (text_of(body, "error").empty() ? "unexpected answer"
                                                   : text_of(body, "error"))
                << '\n';
      return exit_failure;
    }
    return *list;
  }

  /// The flow `id` in the current list; a null JSON when it is gone; the exit code.
  std::variant<nlohmann::json, int> flow(const std::string& id) {
    auto got = list();
    if (auto* code = std::get_if<int>(&got))
      return *code;
    for (auto& v : std::get<nlohmann::json>(got))
      if (text_of(v, "flow_id") == id)
        return v;
    return nlohmann::json{};
  }

  /// POSTs the operator's word; the new state, or the exit code.
  std::variant<std::string, int> act(const std::string& id, const std::string& action) {
    matrix::http_request post;
    post.method = matrix::http_method::post;
    post.target = "/v1/profiles/" + options.profile + "/verifications/" + id;
    post.body = nlohmann::json{{"action", action}};
    post.timeout = std::chrono::seconds{30};
    auto answer = admin_call(client, access, post, "verify");
    if (auto* code = std::get_if<int>(&answer))
      return *code;
    auto& body = std::get<nlohmann::json>(answer);
    if (body["http_status"] != 200) {
      std::cerr << "hermes-matrix verify: cannot " << action << " verification " << id << ": "
                << text_of(body, "error") << '\n';
      return exit_failure;
    }
    return text_of(body, "state");
  }
};

void show(const nlohmann::json& v) {
  std::cout << "Verification " << text_of(v, "flow_id") << " with " << text_of(v, "user_id")
            << "'s device " << text_of(v, "device_id") << ".\n"
            << "Compare these emoji with the ones on the other device:\n\n";
  for (auto& e : v["emoji"])
    std::cout << "  " << text_of(e, "symbol") << "  " << text_of(e, "name") << '\n';
  std::cout << "\nor these numbers:";
  for (auto& n : v["decimals"])
    if (n.is_number_integer())
      std::cout << ' ' << n.get<int>();
  std::cout << "\n\n";
}

enum class answer { yes, no, closed, none };

/// One line from the terminal before `deadline`.
answer ask_operator(clock::time_point deadline) {
  std::cout << "Do they match? [y/N] " << std::flush;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return answer::none;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready <= 0)
      continue;
    char c = 0;
    auto n = ::read(STDIN_FILENO, &c, 1);
    if (n <= 0)
      return line.empty() ? answer::closed : answer::no;
    if (c != '\n') {
      line += c;
      continue;
    }
    return line == "y" || line == "Y" || line == "yes" || line == "YES" || line == "Yes"
             ? answer::yes
             : answer::no;
  }
}

/// After a confirmation: waits for the flow to be done (or cancelled by the other side).
int await_done(verify_session& s, const std::string& id, clock::time_point deadline) {
  for (;;) {
    auto got = s.flow(id);
    if (auto* code = std::get_if<int>(&got))
      return *code;
    auto& v = std::get<nlohmann::json>(got);
    if (v.is_null()) {
      std::cerr << "hermes-matrix verify: verification " << id << " is gone (the service "
                << "restarted?)\n";
      return exit_failure;
    }
    if (text_of(v, "state") == "done") {
      std::cout << "Verified " << text_of(v, "user_id") << "'s device "
                << text_of(v, "device_id") << ".\n";
      return exit_ok;
    }
    if (text_of(v, "state") == "cancelled") {
      std::cerr << "hermes-matrix verify: verification " << id << " was cancelled: "
                << text_of(v, "cancel_code") << " (" << text_of(v, "cancel_reason") << ")\n";
      return exit_failure;
    }
    if (clock::now() >= deadline) {
      std::cerr << "hermes-matrix verify: confirmed, but " << text_of(v, "user_id")
                << " has not confirmed on their side yet; it is cancelled after 10 minutes "
                   "unless they do\n";
      return exit_failure;
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

} // namespace

int verify_command(const verify_options& options) {
  if (options.confirm && options.reject) {
    std::cerr << "hermes-matrix verify: --confirm and --reject exclude each other\n";
    return exit_usage;
  }
  if (options.timeout_seconds <= 0) {
    std::cerr << "hermes-matrix verify: --timeout must be a positive number of seconds\n";
    return exit_usage;
  }
  admin_access access{options.hermes_home, options.admin_url, options.admin_token_file,
                      options.admin_ca_file};
  auto client = admin_client(access, "verify");
  if (auto* code = std::get_if<int>(&client))
    return *code;
  verify_session s{options, access, std::move(std::get<blocking_client>(client))};
  auto deadline = clock::now() + std::chrono::seconds{options.timeout_seconds};
  // Until a verification shows its emoji (or the one asked for ends).
  nlohmann::json chosen;
  bool told_waiting = false;
  for (;;) {
    auto got = s.list();
    if (auto* code = std::get_if<int>(&got))
      return *code;
    std::vector<nlohmann::json> ready;
    for (auto& v : std::get<nlohmann::json>(got)) {
      if (!options.flow.empty() && text_of(v, "flow_id") != options.flow)
        continue;
      if (!options.flow.empty() && finished(v)) {
        std::cerr << "hermes-matrix verify: verification " << options.flow << " is "
                  << text_of(v, "state") << '\n';
        return text_of(v, "state") == "done" ? exit_ok : exit_failure;
      }
      if (at_emoji_stage(v))
        ready.push_back(v);
    }
    if (ready.size() > 1) {
      std::cerr << "hermes-matrix verify: " << ready.size()
                << " verifications wait for the operator; choose one with --flow:\n";
      for (auto& v : ready)
        std::cerr << "  " << text_of(v, "flow_id") << "  " << text_of(v, "user_id") << " "
                  << text_of(v, "device_id") << '\n';
      return exit_usage;
    }
    if (ready.size() == 1) {
      chosen = ready.front();
      break;
    }
    if (clock::now() >= deadline) {
      std::cerr << "hermes-matrix verify: no verification of profile " << options.profile
                << " reached the emoji stage within " << options.timeout_seconds
                << " s; start one from the other device (Element: the bot's profile, "
                   "Verify)\n";
      return exit_failure;
    }
    if (!told_waiting) {
      std::cout << "Waiting for a verification of profile " << options.profile << "...\n"
                << std::flush;
      told_waiting = true;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  auto id = text_of(chosen, "flow_id");
  show(chosen);
  auto said = options.confirm  ? answer::yes
              : options.reject ? answer::no
                               : ask_operator(deadline);
  if (!options.confirm && !options.reject)
    std::cout << '\n';
  std::string action = said == answer::yes      ? "confirm"
                       : said == answer::no     ? "reject"
                       : said == answer::closed ? "cancel"
                                                : "timeout";
  auto acted = s.act(id, action);
  if (auto* code = std::get_if<int>(&acted))
    return *code;
  switch (said) {
    case answer::yes:
      return await_done(s, id, std::max(deadline, clock::now() + confirm_grace));
    case answer::no:
      std::cout << "Rejected: verification " << id
                << " is cancelled (m.mismatched_sas); the other device shows it failed.\n";
      return options.reject ? exit_ok : exit_failure;
    case answer::closed:
      std::cerr << "hermes-matrix verify: the terminal closed without an answer; "
                   "verification "
                << id << " is cancelled (use --confirm or --reject in scripts)\n";
      return exit_failure;
    case answer::none:
      break;
  }
  std::cerr << "hermes-matrix verify: no answer within " << options.timeout_seconds
            << " s; verification " << id << " is cancelled (m.timeout)\n";
  return exit_failure;
}

} // namespace hm
