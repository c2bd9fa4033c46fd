// `hermes-matrix status`: the status table of a running service, read from its admin
// API (GET /v1/status). It prints names, states and counts, never the token.

#include "app/admin_token.hpp"
#include "app/blocking_client.hpp"
#include "app/commands.hpp"
#include "app/text_table.hpp"

#include "profiles/discovery.hpp"

#include <nlohmann/json.hpp>

#include <iostream>

namespace hm {

namespace {

std::string text_of(const nlohmann::json& j, const char* key) {
  auto i = j.find(key);
  if (i == j.end() || !i->is_string() || i->get<std::string>().empty())
    return "-";
  return i->get<std::string>();
}

std::string number_of(const nlohmann::json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_number_unsigned() ? std::to_string(i->get<uint64_t>()) : "-";
}

/// "12s ago", "3m ago", "2h ago"; "never" before the first sync.
std::string age_of(const nlohmann::json& j) {
  auto i = j.find("last_sync_age_seconds");
  if (i == j.end() || !i->is_number())
    return "never";
  auto s = static_cast<long long>(i->get<double>());
  if (s < 120)
    return std::to_string(s) + "s ago";
  if (s < 7200)
    return std::to_string(s / 60) + "m ago";
  return std::to_string(s / 3600) + "h ago";
}

} // namespace

int status_command(const status_options& options) {
  auto token_path = options.admin_token_file;
  if (token_path.empty()) {
    auto home = options.hermes_home.empty() ? profiles::default_hermes_home() : options.hermes_home;
    token_path = default_admin_token_path(home);
  }
  auto token = read_admin_token(token_path);
  if (!token.error.empty()) {
    std::cerr << "hermes-matrix status: " << token.error
              << " (give the running service's token with --admin-token-file)\n";
    return exit_failure;
  }
  if (options.admin_url.rfind("http://", 0) != 0 && options.admin_url.rfind("https://", 0) != 0) {
    std::cerr << "hermes-matrix status: --admin-url " << options.admin_url
              << " is not a URL like http://127.0.0.1:9465\n";
    return exit_usage;
  }
  blocking_client client{options.admin_url};
  client.set_access_token(secret{token.value});
  if (!options.admin_ca_file.empty())
    client.set_ca_file(options.admin_ca_file.string());
  matrix::http_request get;
  get.target = "/v1/status";
  get.timeout = std::chrono::seconds{15};
  auto res = client.perform(get);
  if (res.status == 0) {
    std::cerr << "hermes-matrix status: cannot reach the admin API at " << options.admin_url
              << " (" << res.transport_error
              << "); is `hermes-matrix run` running there with --admin-listen?\n";
    return exit_failure;
  }
  if (res.status == 401) {
    std::cerr << "hermes-matrix status: the service at " << options.admin_url
              << " refused the token in " << token_path.string()
              << "; give the right file with --admin-token-file\n";
    return exit_failure;
  }
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (res.status != 200 || body.is_discarded() || !body.contains("profiles")
      || !body["profiles"].is_array()) {
    std::cerr << "hermes-matrix status: unexpected answer from " << options.admin_url
              << " (HTTP " << res.status << ")";
    if (!body.is_discarded() && body.contains("error") && body["error"].is_string())
      std::cerr << ": " << body["error"].get<std::string>();
    std::cerr << '\n';
    return exit_failure;
  }
  if (options.json) {
    std::cout << body.dump(2) << '\n';
    return exit_ok;
  }
  // A cluster's coordinator also says where each profile runs, and lists its nodes.
  bool cluster = body.contains("nodes") && body["nodes"].is_array();
  std::vector<std::string> header{"PROFILE", "STATE", "MATRIX USER", "DEVICE", "LAST SYNC",
                                  "QUEUE", "RESTARTS", "LAST ERROR"};
  if (cluster)
    header.insert(header.begin() + 1, "NODE");
  text_table table{header};
  for (auto& p : body["profiles"]) {
    std::vector<std::string> row{text_of(p, "profile"), text_of(p, "state"),
                                 text_of(p, "user_id"), text_of(p, "device_id"), age_of(p),
                                 number_of(p, "outbox_queue"), number_of(p, "restarts"),
                                 text_of(p, "last_error")};
    if (cluster)
      row.insert(row.begin() + 1, text_of(p, "node"));
    table.add_row(row);
  }
  std::cout << "hermes-matrix " << text_of(body, "version") << " at " << options.admin_url
            << "\n\n";
  table.print(std::cout);
  if (cluster) {
    text_table nodes{{"NODE", "ALIVE", "PROFILES", "LAST RENEWAL"}};
    for (auto& n : body["nodes"]) {
      auto alive = n.find("alive");
      auto age = n.find("last_renewal_age_seconds");
      nodes.add_row({text_of(n, "name"),
                     alive != n.end() && alive->is_boolean() && alive->get<bool>() ? "yes" : "no",
                     number_of(n, "profiles"),
                     age != n.end() && age->is_number()
                       ? std::to_string(static_cast<long long>(age->get<double>())) + "s ago"
                       : "-"});
    }
    std::cout << '\n';
    nodes.print(std::cout);
  }
  return exit_ok;
}

} // namespace hm
