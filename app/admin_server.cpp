#include "app/admin_server.hpp"

#include "app/admin_requests.hpp"
#include "app/status_json.hpp"
#include "httpd/server.hpp"
#include "messages/errors.hpp"
#include "store/private_file.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <charconv>
#include <fstream>
#include <sstream>
#include <variant>
#include <chrono>

namespace hm {

namespace {

using namespace std::chrono_literals;

/// How long a request waits for the supervisor (which waits up to 2 s per cell).
constexpr auto status_timeout = 5s;
/// A notification may first ask the homeserver whether the home room is encrypted.
constexpr auto notify_timeout = 20s;
httpd::response reply_error(int status, std::string_view errcode, const std::string& text) {
  return httpd::json_error(status, errcode, text);
}

/// The HTTP status of an error from the actors.
int http_status_of(const caf::error& err) {
  if (err.category() == error_category) {
    switch (static_cast<errc>(err.code())) {
      case errc::unknown_profile: return 404;
      case errc::unavailable:
      case errc::bad_config: return 409;
      case errc::bad_request: return 400;
      case errc::too_large: return 413;
      case errc::transient: return 503;
      default: return 500;
    }
  }
  if (err == caf::sec::request_timeout)
    return 504;
  return 500;
}

std::string errcode_of(const caf::error& err) {
  if (err.category() == error_category)
    return to_string(static_cast<errc>(err.code()));
  if (err == caf::sec::request_timeout)
    return "timeout";
  return "internal";
}

} // namespace

hm::expected<std::optional<admin_listen>> parse_admin_listen(std::string_view text) {
  if (text == "off")
    return std::optional<admin_listen>{};
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail(error_code::invalid_input,
                "--admin-listen " + std::string{text}
                  + ": expected HOST:PORT (e.g. 127.0.0.1:9465), [::1]:PORT or off");
  admin_listen where;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  where.host = host.empty() ? "127.0.0.1" : std::string{host};
  in6_addr any{};
  if (where.host != "localhost" && ::inet_pton(AF_INET, where.host.c_str(), &any) != 1
      && ::inet_pton(AF_INET6, where.host.c_str(), &any) != 1)
    return fail(error_code::invalid_input,
                "--admin-listen " + std::string{text}
                  + ": the host must be an IP address (127.0.0.1, [::1], 0.0.0.0) or localhost");
  auto port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), where.port);
  if (ec != std::errc{} || end != port.data() + port.size() || where.port < 0
      || where.port > 65535)
    return fail(error_code::invalid_input,
                "--admin-listen " + std::string{text} + ": the port must be a number from 0 to 65535");
  return std::optional<admin_listen>{where};
}

hm::expected<httpd::tls_files>
read_admin_tls(const std::filesystem::path& cert, const std::filesystem::path& key) {
  httpd::tls_files out;
  std::ifstream in{cert};
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return fail(error_code::invalid_input,
                "--admin-tls-cert " + cert.string() + ": cannot read a PEM certificate from it");
  out.cert_pem = text.str();
  auto secret = store::read_private_text(key, "the admin API's TLS key");
  if (!secret.error.empty())
    return fail(error_code::refused, "--admin-tls-key: " + secret.error);
  if (secret.value.find("PRIVATE KEY-----") == std::string::npos)
    return fail(error_code::invalid_input,
                "--admin-tls-key " + key.string() + ": not a PEM private key");
  out.key_pem = std::move(secret.value);
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost")
    return true;
  std::string text{host};
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

using verification_action_msg = verification_action;

struct admin_server::impl {
  caf::actor_system& sys;
  supervisor_actor supervisor;   // a single node
  coordinator_actor coordinator; // or a cluster's coordinator
  std::string token;
  std::unique_ptr<httpd::server> server;

  impl(caf::actor_system& s, supervisor_actor sup, coordinator_actor coord, std::string t)
    : sys(s), supervisor(std::move(sup)), coordinator(std::move(coord)), token(std::move(t)) {
  }

  /// Who answers for the profiles, for error texts.
  const char* answerer() const {
    return coordinator ? "the coordinator" : "the supervisor";
  }

  /// Sends a request to the coordinator or the supervisor and waits for its answer.
  template <class OnValue, class OnError, class... Ts>
  void ask(caf::timespan timeout, OnValue on_value, OnError on_error, Ts&&... xs) {
    caf::scoped_actor self{sys};
    if (coordinator)
      self->request(coordinator, timeout, std::forward<Ts>(xs)...).receive(on_value, on_error);
    else
      self->request(supervisor, timeout, std::forward<Ts>(xs)...).receive(on_value, on_error);
  }

  /// Decides on the headers alone (never blocks): the probe, the 401s, the 404s and
  /// 405s; a client without the token gets its 401 before one byte of its body is
  /// read. nullopt: the request goes to `answer` on a worker.
  std::optional<httpd::response> at_head(const httpd::request& req) const {
    auto route = route_of(req);
    if (auto* answer = std::get_if<httpd::response>(&route))
      return *answer;
    auto& r = std::get<admin_route>(route);
    if (r.what == admin_route::kind::healthz)
      return reply_json(200, {{"status", "alive"}});
    if (needs_token(r))
      return refused(req, token);
    return std::nullopt;
  }

  /// On a worker thread: the requests that ask the actors.
  httpd::response answer(const httpd::request& req) {
    auto r = std::get<admin_route>(route_of(req)); // at_head let only routes through
    switch (r.what) {
      case admin_route::kind::readyz: return readyz();
      case admin_route::kind::status: return status();
      case admin_route::kind::notify: return notify(r.profile, req.body);
      case admin_route::kind::verifications: return verifications(r.profile);
      case admin_route::kind::verification_action:
        return verification_action(r.profile, r.flow_id, req.body);
      case admin_route::kind::healthz: break;
    }
    return reply_json(200, {{"status", "alive"}});
  }

  /// Every profile's status from the supervisor, or the error that kept it.
  std::variant<std::vector<profile_status>, caf::error> statuses() {
    std::variant<std::vector<profile_status>, caf::error> out = caf::error{};
    ask(
      status_timeout, [&](std::vector<profile_status>& all) { out = std::move(all); },
      [&](caf::error& err) { out = std::move(err); }, atom::status_v);
    return out;
  }

  /// The cluster's nodes, as the coordinator sees them.
  std::variant<std::vector<node_view>, caf::error> nodes() {
    caf::scoped_actor self{sys};
    std::variant<std::vector<node_view>, caf::error> out = caf::error{};
    self->request(coordinator, status_timeout, atom::nodes_v)
      .receive([&](std::vector<node_view>& all) { out = std::move(all); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  httpd::response readyz() {
    auto got = statuses();
    if (auto* err = std::get_if<caf::error>(&got))
      return reply_error(503, errcode_of(*err),
                         std::string{answerer()} + " did not answer: " + error_text(*err));
    auto& all = std::get<0>(got);
    auto waiting = nlohmann::json::array();
    for (auto* p : not_ready(all))
      waiting.push_back({{"profile", p->profile}, {"state", to_string(p->state)},
                         {"synced", p->synced}});
    if (waiting.empty())
      return reply_json(200, {{"ready", true}});
    return reply_json(503, {{"ready", false}, {"not_ready", std::move(waiting)}});
  }

  httpd::response status() {
    auto got = statuses();
    if (auto* err = std::get_if<caf::error>(&got))
      return reply_error(http_status_of(*err) == 504 ? 504 : 500, errcode_of(*err),
                         std::string{answerer()} + " did not answer: " + error_text(*err));
    if (!coordinator)
      return reply_json(200, status_json(std::get<0>(got), caf::make_timestamp()));
    auto nodes_got = nodes();
    if (auto* err = std::get_if<caf::error>(&nodes_got))
      return reply_error(http_status_of(*err) == 504 ? 504 : 500, errcode_of(*err),
                         "the coordinator did not answer: " + error_text(*err));
    return reply_json(200, cluster_status_json(std::get<0>(got), std::get<0>(nodes_got),
                                               caf::make_timestamp()));
  }

  /// A profile's SAS verifications, as its status holds them.
  httpd::response verifications(const std::string& name) {
    auto got = statuses();
    if (auto* err = std::get_if<caf::error>(&got))
      return reply_error(http_status_of(*err) == 504 ? 504 : 500, errcode_of(*err),
                         std::string{answerer()} + " did not answer: " + error_text(*err));
    for (auto& p : std::get<0>(got)) {
      if (p.profile != name)
        continue;
      auto list = nlohmann::json::array();
      for (auto& v : p.verifications)
        list.push_back(verification_json(v));
      return reply_json(200, {{"profile", name}, {"verifications", std::move(list)}});
    }
    return reply_error(404, "unknown_profile", "no profile named " + name);
  }

  /// The operator's word on a verification, handed to the profile's crypto actor.
  httpd::response verification_action(const std::string& name, const std::string& flow_id,
                                       const std::string& body) {
    auto choice = read_verification_action(body);
    if (!choice)
      return reply_error(400, "bad_request", choice.error().message);
    verification_action_msg a{flow_id, std::string{to_string(*choice)}};
    httpd::response out;
    ask(
      notify_timeout,
      [&](std::string& state) {
        spdlog::info("admin API: {} for verification {} of profile {}: now {}", a.action,
                     flow_id, name, state);
        out = reply_json(200, {{"profile", name}, {"flow_id", flow_id}, {"state", state}});
      },
      [&](caf::error& err) {
        spdlog::warn("admin API: {} for verification {} of profile {} refused: {}", a.action,
                     flow_id, name, error_text(err));
        out = reply_error(http_status_of(err), errcode_of(err), error_text(err));
      },
      atom::verify_v, name, a);
    return out;
  }

  httpd::response notify(const std::string& name, const std::string& body) {
    auto parsed = read_notification(body);
    if (!parsed)
      return reply_error(400, "bad_request", parsed.error().message);
    httpd::response out;
    ask(
      notify_timeout,
      [&](std::string& txn_id) {
        spdlog::info("admin API: notification for profile {} queued ({})", name, txn_id);
        out = reply_json(202, {{"profile", name}, {"txn_id", txn_id}});
      },
      [&](caf::error& err) {
        spdlog::warn("admin API: notification for profile {} refused: {}", name,
                     error_text(err));
        out = reply_error(http_status_of(err), errcode_of(err), error_text(err));
      },
      atom::notify_v, name, std::move(*parsed));
    return out;
  }
};

admin_server::admin_server(caf::actor_system& sys, supervisor_actor supervisor, std::string token)
  : impl_(std::make_unique<impl>(sys, std::move(supervisor), coordinator_actor{},
                                 std::move(token))) {
}

admin_server::admin_server(caf::actor_system& sys, coordinator_actor coordinator,
                           std::string token)
  : impl_(std::make_unique<impl>(sys, supervisor_actor{}, std::move(coordinator),
                                 std::move(token))) {
}

admin_server::~admin_server() {
  stop();
}

hm::expected<void> admin_server::start(const admin_listen& where,
                                       std::optional<httpd::tls_files> tls) {
  auto* d = impl_.get();
  httpd::handlers h;
  h.at_head = [d](const httpd::request& req) { return d->at_head(req); };
  h.answer = [d](const httpd::request& req) { return d->answer(req); };
  h.log = [](std::string_view line) { spdlog::debug("{}", line); };
  httpd::limits l;
  l.body_bytes = max_admin_request_body;
  auto started = httpd::server::start("admin API", where.host, where.port, std::move(h), l,
                                      std::move(tls));
  if (!started)
    return hm::unexpected{std::move(started).error()};
  d->server = std::move(*started);
  return {};
}

int admin_server::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

void admin_server::stop() {
  if (impl_ && impl_->server)
    impl_->server->stop();
}

} // namespace hm
