#include "agent/capabilities.hpp"

#include <nlohmann/json.hpp>

namespace hm::agent {

namespace {

bool feature(const nlohmann::json& features, const char* name) {
  auto it = features.find(name);
  return it != features.end() && it->is_boolean() && it->get<bool>();
}

} // namespace

http_request build_capabilities_request(std::string_view base_url, std::string_view api_key) {
  http_request req;
  req.method = "GET";
  req.url = v1_url(base_url, "capabilities");
  req.headers.push_back({"Accept", "application/json"});
  if (!api_key.empty())
    req.headers.push_back({"Authorization", bearer(api_key)});
  return req;
}

std::optional<backend_capabilities> parse_capabilities(int status, std::string_view body) {
  if (status == 404 || status == 405)
    return backend_capabilities{};
  if (status != 200)
    return std::nullopt;
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return backend_capabilities{};
  backend_capabilities caps;
  auto features_it = j.find("features");
  const auto features = features_it != j.end() && features_it->is_object()
                          ? *features_it
                          : nlohmann::json::object();
  auto header_it = features.find("session_continuity_header");
  caps.keeps_sessions = header_it != features.end() && header_it->is_string()
                        && header_it->get<std::string>() == "X-Hermes-Session-Id";
  caps.runs = feature(features, "run_submission") && feature(features, "run_events_sse")
              && feature(features, "run_status");
  caps.approvals = caps.runs && feature(features, "run_approval_response")
                   && feature(features, "approval_events");
  caps.stop = caps.runs && feature(features, "run_stop");
  auto idem = features.find("runs_idempotency");
  caps.idempotent_runs = caps.runs && idem != features.end() && idem->is_object()
                         && feature(*idem, "supported");
  return caps;
}

} // namespace hm::agent
