// `hermes-matrix status`: the status table of a running service, read from its admin
// API (GET /v1/status). It prints names, states and counts, never the token.

#include "app/admin_client.hpp"
#include "app/commands.hpp"
#include "app/text_table.hpp"

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

/// The profiles' SAS verifications, one line each (with the emoji once they are known).
void print_verifications(const nlohmann::json& profiles) {
  text_table table{{"PROFILE", "VERIFICATION", "WITH", "DEVICE", "STATE", "COMPARE"}};
  bool any = false;
  for (auto& p : profiles) {
    auto list = p.find("verifications");
    if (list == p.end() || !list->is_array())
      continue;
    for (auto& v : *list) {
      std::string compare;
      if (auto emoji = v.find("emoji"); emoji != v.end() && emoji->is_array())
        for (auto& e : *emoji)
          compare += text_of(e, "symbol") + " ";
      if (auto numbers = v.find("decimals"); numbers != v.end() && numbers->is_array())
        for (auto& n : *numbers)
          if (n.is_number_integer())
            compare += std::to_string(n.get<int>()) + " ";
      if (compare.empty())
        compare = text_of(v, "cancel_code");
      table.add_row({text_of(p, "profile"), text_of(v, "flow_id"), text_of(v, "user_id"),
                     text_of(v, "device_id"), text_of(v, "state"), compare});
      any = true;
    }
  }
  if (!any)
    return;
  std::cout << '\n';
  table.print(std::cout);
}

} // namespace

int status_command(const status_options& options) {
  admin_access access{options.hermes_home, options.admin_url, options.admin_token_file,
                      options.admin_ca_file};
  auto client = admin_client(access, "status");
  if (auto* code = std::get_if<int>(&client))
    return *code;
  matrix::http_request get;
  get.target = "/v1/status";
  get.timeout = std::chrono::seconds{15};
  auto answer = admin_call(std::get<blocking_client>(client), access, get, "status");
  if (auto* code = std::get_if<int>(&answer))
    return *code;
  auto& body = std::get<nlohmann::json>(answer);
  int http_status = body["http_status"].get<int>();
  body.erase("http_status");
  if (http_status != 200 || !body.contains("profiles") || !body["profiles"].is_array()) {
    std::cerr << "hermes-matrix status: unexpected answer from " << options.admin_url
              << " (HTTP " << http_status << ")";
    if (body.contains("error") && body["error"].is_string())
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
  print_verifications(body["profiles"]);
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
