#include "app/admin_client.hpp"

#include "app/admin_token.hpp"
#include "app/commands.hpp"

#include "profiles/discovery.hpp"

#include <iostream>

namespace hm {

namespace {

std::filesystem::path token_path_of(const admin_access& access) {
  if (!access.admin_token_file.empty())
    return access.admin_token_file;
  auto home = access.hermes_home.empty() ? profiles::default_hermes_home() : access.hermes_home;
  return default_admin_token_path(home);
}

} // namespace

std::variant<blocking_client, int> admin_client(const admin_access& access,
                                                std::string_view command) {
  auto token = read_admin_token(token_path_of(access));
  if (!token.error.empty()) {
    std::cerr << "hermes-matrix " << command << ": " << token.error
              << " (give the running service's token with --admin-token-file)\n";
    return exit_failure;
  }
  if (access.admin_url.rfind("http://", 0) != 0 && access.admin_url.rfind("https://", 0) != 0) {
    std::cerr << "hermes-matrix " << command << ": --admin-url " << access.admin_url
              << " is not a URL like http://127.0.0.1:9465\n";
    return exit_usage;
  }
  blocking_client client{access.admin_url};
  client.set_access_token(secret{token.value});
  if (!access.admin_ca_file.empty())
    client.set_ca_file(access.admin_ca_file.string());
  return client;
}

std::variant<nlohmann::json, int> admin_call(const blocking_client& client,
                                             const admin_access& access,
                                             const matrix::http_request& request,
                                             std::string_view command) {
  auto res = client.perform(request);
  if (res.status == 0) {
    std::cerr << "hermes-matrix " << command << ": cannot reach the admin API at "
              << access.admin_url << " (" << res.transport_error
              << "); is `hermes-matrix run` running there with --admin-listen?\n";
    return exit_failure;
  }
  if (res.status == 401) {
    std::cerr << "hermes-matrix " << command << ": the service at " << access.admin_url
              << " refused the token in " << token_path_of(access).string()
              << "; give the right file with --admin-token-file\n";
    return exit_failure;
  }
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    std::cerr << "hermes-matrix " << command << ": unexpected answer from " << access.admin_url
              << " (HTTP " << res.status << ")\n";
    return exit_failure;
  }
  body["http_status"] = res.status;
  return body;
}

} // namespace hm
