#include "app/admin_server.hpp"

#include "app/admin_token.hpp"
#include "app/status_json.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <thread>

namespace hm {

namespace {

using namespace std::chrono_literals;

/// How long a request waits for the supervisor (which waits up to 2 s per cell).
constexpr auto status_timeout = 5s;
/// A notification may first ask the homeserver whether the home room is encrypted.
constexpr auto notify_timeout = 20s;
/// The longest notification body: the homeserver takes events up to 64 KiB, and the
/// HTML of Markdown (or the ciphertext of an encrypted event) is larger than its text.
constexpr size_t max_notify_body = 16 * 1024;

void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                  "application/json");
}

void reply_error(httplib::Response& res, int status, std::string_view errcode,
                 const std::string& text) {
  reply_json(res, status, {{"errcode", errcode}, {"error", text}});
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

/// Reads {"body": "...", "format": "markdown", "idempotency_key": "..."} (the last two
/// optional); an error text otherwise.
std::variant<notification, std::string> read_notification(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return std::string{"the request body must be a JSON object like {\"body\": \"text\"}"};
  for (auto& [key, _] : json.items())
    if (key != "body" && key != "format" && key != "idempotency_key")
      return "unknown field '" + key + "': only body, format and idempotency_key are read";
  auto body = json.find("body");
  if (body == json.end() || !body->is_string() || body->get<std::string>().empty())
    return std::string{"body must be a non-empty string"};
  if (body->get<std::string>().size() > max_notify_body)
    return "body is longer than " + std::to_string(max_notify_body) + " bytes; send it in parts";
  notification n;
  n.body = body->get<std::string>();
  if (auto f = json.find("format"); f != json.end()) {
    if (!f->is_string() || (*f != "markdown" && *f != "plain"))
      return std::string{"format must be \"markdown\" or \"plain\" (the default)"};
    if (*f == "markdown")
      n.format = "markdown";
  }
  if (auto k = json.find("idempotency_key"); k != json.end()) {
    if (!k->is_string() || k->get<std::string>().empty() || k->get<std::string>().size() > 200)
      return std::string{"idempotency_key must be a string of 1 to 200 bytes"};
    n.key = k->get<std::string>();
  }
  return n;
}

} // namespace

std::variant<std::optional<admin_listen>, std::string>
parse_admin_listen(std::string_view text) {
  if (text == "off")
    return std::optional<admin_listen>{};
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return "--admin-listen " + std::string{text}
           + ": expected HOST:PORT (e.g. 127.0.0.1:9465), [::1]:PORT or off";
  admin_listen where;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  where.host = host.empty() ? "127.0.0.1" : std::string{host};
  auto port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), where.port);
  if (ec != std::errc{} || end != port.data() + port.size() || where.port < 0
      || where.port > 65535)
    return "--admin-listen " + std::string{text} + ": the port must be a number from 0 to 65535";
  return std::optional<admin_listen>{where};
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

struct admin_server::impl {
  caf::actor_system& sys;
  supervisor_actor supervisor;   // a single node
  coordinator_actor coordinator; // or a cluster's coordinator
  std::string token;
  httplib::Server server;
  std::thread thread;
  int port = 0;

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

  /// Checks the bearer token; on failure the response is already the 401.
  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    auto header = req.get_header_value("Authorization"); // bearer_token views into it
    auto presented = bearer_token(header);
    if (presented.empty()) {
      res.set_header("WWW-Authenticate", "Bearer");
      reply_error(res, 401, "unauthorized",
                  "missing bearer token: send Authorization: Bearer <the admin token file's "
                  "content>");
      return false;
    }
    if (!same_token(presented, token)) {
      res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      reply_error(res, 401, "unauthorized", "wrong admin token");
      return false;
    }
    return true;
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

  void healthz(httplib::Response& res) {
    reply_json(res, 200, {{"status", "alive"}});
  }

  void readyz(httplib::Response& res) {
    auto got = statuses();
    if (auto* err = std::get_if<caf::error>(&got)) {
      reply_error(res, 503, errcode_of(*err),
                  std::string{answerer()} + " did not answer: " + error_text(*err));
      return;
    }
    auto& all = std::get<0>(got);
    auto waiting = nlohmann::json::array();
    for (auto* p : not_ready(all))
      waiting.push_back({{"profile", p->profile}, {"state", to_string(p->state)},
                         {"synced", p->synced}});
    if (waiting.empty())
      reply_json(res, 200, {{"ready", true}});
    else
      reply_json(res, 503, {{"ready", false}, {"not_ready", std::move(waiting)}});
  }

  void status(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res))
      return;
    auto got = statuses();
    if (auto* err = std::get_if<caf::error>(&got)) {
      reply_error(res, http_status_of(*err) == 504 ? 504 : 500, errcode_of(*err),
                  std::string{answerer()} + " did not answer: " + error_text(*err));
      return;
    }
    if (!coordinator) {
      reply_json(res, 200, status_json(std::get<0>(got), caf::make_timestamp()));
      return;
    }
    auto nodes_got = nodes();
    if (auto* err = std::get_if<caf::error>(&nodes_got)) {
      reply_error(res, http_status_of(*err) == 504 ? 504 : 500, errcode_of(*err),
                  "the coordinator did not answer: " + error_text(*err));
      return;
    }
    reply_json(res, 200, cluster_status_json(std::get<0>(got), std::get<0>(nodes_got),
                                             caf::make_timestamp()));
  }

  /// The body, read only now (after the token was checked) and only up to `limit`
  /// bytes however it is framed (cpp-httplib 0.11 applies its own limit to
  /// Content-Length bodies, not to chunked ones). nullopt when it is larger.
  static std::optional<std::string> read_body(const httplib::Request& req,
                                              const httplib::ContentReader& content,
                                              size_t limit) {
    std::string body;
    // A Content-Length over the limit is refused unread (cpp-httplib would otherwise
    // stop at its own limit without saying so to the reader).
    auto announced = req.get_header_value("Content-Length");
    uint64_t declared = 0;
    auto [end, ec] =
      std::from_chars(announced.data(), announced.data() + announced.size(), declared);
    bool too_large = !announced.empty() && (ec != std::errc{} || declared > limit);
    if (!too_large)
      content([&](const char* data, size_t length) {
        if (body.size() + length > limit) {
          too_large = true;
          return false; // stop reading: the rest is never buffered
        }
        body.append(data, length);
        return true;
      });
    if (too_large)
      return std::nullopt;
    return body;
  }

  void notify(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& content) {
    // The token first: a client without it gets its 401 before one byte of its body
    // is read.
    if (!authorized(req, res))
      return;
    auto name = req.matches[1].str();
    auto body = read_body(req, content, 4 * max_notify_body);
    if (!body) {
      reply_error(res, 413, "too_large",
                  "the request body is larger than " + std::to_string(4 * max_notify_body)
                    + " bytes");
      return;
    }
    auto parsed = read_notification(*body);
    if (auto* err = std::get_if<std::string>(&parsed)) {
      reply_error(res, 400, "bad_request", *err);
      return;
    }
    ask(
      notify_timeout,
      [&](std::string& txn_id) {
        spdlog::info("admin API: notification for profile {} queued ({})", name, txn_id);
        reply_json(res, 202, {{"profile", name}, {"txn_id", txn_id}});
      },
      [&](caf::error& err) {
        spdlog::warn("admin API: notification for profile {} refused: {}", name,
                     error_text(err));
        reply_error(res, http_status_of(err), errcode_of(err), error_text(err));
      },
      atom::notify_v, name, std::move(std::get<notification>(parsed)));
  }
};

admin_server::admin_server(caf::actor_system& sys, supervisor_actor supervisor, std::string token)
  : impl_(std::make_unique<impl>(sys, std::move(supervisor), coordinator_actor{},
                                 std::move(token))) {
  routes();
}

admin_server::admin_server(caf::actor_system& sys, coordinator_actor coordinator,
                           std::string token)
  : impl_(std::make_unique<impl>(sys, supervisor_actor{}, std::move(coordinator),
                                 std::move(token))) {
  routes();
}

void admin_server::routes() {
  auto* d = impl_.get();
  auto& srv = d->server;
  // A few threads: the API is for operators and cron jobs, not for traffic, but a
  // notification waiting on a slow homeserver must not hold up the probes.
  srv.new_task_queue = [] { return new httplib::ThreadPool(4); };
  // One request per connection: a thread idling on a kept-alive connection would
  // otherwise make every other client wait for it (5 s each under a burst).
  srv.set_keep_alive_max_count(1);
  // Without it, small responses wait for the client's delayed ACK (~40 ms each).
  srv.set_tcp_nodelay(true);
  srv.set_payload_max_length(4 * max_notify_body);
  srv.Get("/healthz", [d](const httplib::Request&, httplib::Response& res) { d->healthz(res); });
  srv.Get("/readyz", [d](const httplib::Request&, httplib::Response& res) { d->readyz(res); });
  srv.Get("/v1/status",
          [d](const httplib::Request& req, httplib::Response& res) { d->status(req, res); });
  srv.Post(R"(/v1/profiles/([^/]+)/notify)",
           [d](const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& content) { d->notify(req, res, content); });
  // Every answer is JSON, also the ones cpp-httplib makes itself (a body over the
  // limit, a request it cannot parse).
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty())
      return;
    if (res.status == 404)
      reply_error(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
    else if (res.status == 413)
      reply_error(res, 413, "too_large",
                  "the request body is larger than " + std::to_string(4 * max_notify_body)
                    + " bytes");
    else
      reply_error(res, res.status, "bad_request",
                  "the request could not be read (HTTP " + std::to_string(res.status) + ")");
  });
  srv.set_exception_handler(
    [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      reply_error(res, 500, "internal", "the admin API failed on this request");
    });
}

admin_server::~admin_server() {
  stop();
}

std::optional<std::string> admin_server::start(const admin_listen& where) {
  auto& d = *impl_;
  if (where.port == 0)
    d.port = d.server.bind_to_any_port(where.host);
  else
    d.port = d.server.bind_to_port(where.host, where.port) ? where.port : -1;
  if (d.port <= 0)
    return "cannot listen on " + where.host + ":" + std::to_string(where.port)
           + " (in use, or not an address of this host)";
  d.thread = std::thread{[&d] { d.server.listen_after_bind(); }};
  // cpp-httplib 0.11's stop() does nothing until the listening thread has marked the
  // server running; a stop that came earlier (a SIGTERM right after start) left that
  // thread accepting forever and the join hanging. Return only once it runs.
  for (int i = 0; i < 5000 && !d.server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  return std::nullopt;
}

int admin_server::port() const {
  return impl_->port;
}

void admin_server::stop() {
  if (!impl_)
    return;
  impl_->server.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

} // namespace hm
