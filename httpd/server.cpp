#include "httpd/server.hpp"

#include <microhttpd.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <string.h> // explicit_bzero
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace hm::httpd {

using clock = std::chrono::steady_clock;

std::string_view request::header(std::string_view name) const {
  for (auto& [key, value] : headers)
    if (key.size() == name.size()
        && std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a))
                    == std::tolower(static_cast<unsigned char>(b));
           }))
      return value;
  return {};
}

response json_error(int status, std::string_view errcode, const std::string& text) {
  nlohmann::json body{{"errcode", errcode}, {"error", text}};
  return {status, "application/json",
          body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", {}};
}

namespace {

/// A few threads that run the handlers which may block, from a bounded queue.
class worker_pool {
public:
  worker_pool(unsigned threads, size_t waiting) : max_waiting_(waiting) {
    for (unsigned i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }
  ~worker_pool() { stop(); }

  /// False when the queue is full or the pool stopping: the job is not taken.
  bool submit(std::function<void()> job) {
    std::lock_guard lock{mutex_};
    if (stopping_ || jobs_.size() >= max_waiting_)
      return false;
    jobs_.push_back(std::move(job));
    wake_.notify_one();
    return true;
  }

  /// Runs what is queued, then joins the threads.
  void stop() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
      wake_.notify_all();
    }
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock{mutex_};
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty())
          return; // stopping, and nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  size_t max_waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// One open connection, for the deadline sweep.
struct connection_record {
  int fd = -1;
  clock::time_point request_started;
  bool working = false; ///< suspended while a worker answers: the handler's own timeout bounds it
};

/// One request on a connection (libmicrohttpd's per-request context).
struct exchange {
  request req;
  connection_record* record = nullptr;
  std::optional<response> ready; ///< the worker's answer, queued once resumed
  bool too_large = false;        ///< the body passed the limit: only a 413 is left to give
  size_t skipped = 0;            ///< bytes of such a body read and not kept
};

/// How much of a body past the limit is read (and not kept) to give a 413.
constexpr size_t max_skipped = 1024 * 1024;

std::string address_text(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr == nullptr)
    return "?";
  if (addr->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
  else if (addr->sa_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text,
                sizeof text);
  else
    return "?";
  return text;
}

} // namespace

struct server::impl {
  std::string name; // for logs: "admin API", "metrics"
  handlers h;
  limits lim;
  std::optional<tls_files> tls;
  MHD_Daemon* daemon = nullptr;
  int port = 0;
  worker_pool pool;

  std::mutex records_mutex;
  std::set<connection_record*> records;
  std::mutex sweep_mutex;
  std::condition_variable sweep_wake;
  bool stopping = false;
  std::thread sweeper;

  impl(std::string n, handlers hs, limits l, std::optional<tls_files> t)
    : name(std::move(n)), h(std::move(hs)), lim(l), tls(std::move(t)),
      pool(l.workers, l.waiting) {
  }

  ~impl() {
    if (tls)
      ::explicit_bzero(tls->key_pem.data(), tls->key_pem.size()); // a private key
  }

  static MHD_Result queue(MHD_Connection* conn, const response& r) {
    auto* resp = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                 MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr)
      return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (auto& [key, value] : r.headers)
      MHD_add_response_header(resp, key.c_str(), value.c_str());
    auto ok = MHD_queue_response(conn, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
    return ok;
  }

  MHD_Result on_request(MHD_Connection* conn, const char* url, const char* method,
                        const char* upload_data, size_t* upload_size, void** context) {
    auto* ex = static_cast<exchange*>(*context);
    if (ex == nullptr) {
      // The headers are in: decide before one byte of the body is read.
      ex = new exchange;
      *context = ex;
      ex->req.method = method;
      ex->req.path = url;
      auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      ex->req.peer = address_text(info != nullptr ? info->client_addr : nullptr);
      auto* sock = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
      ex->record = sock != nullptr ? static_cast<connection_record*>(sock->socket_context) : nullptr;
      MHD_get_connection_values(
        conn, MHD_HEADER_KIND,
        [](void* cls, MHD_ValueKind, const char* key, const char* value) {
          static_cast<request*>(cls)->headers.emplace_back(key, value != nullptr ? value : "");
          return MHD_YES;
        },
        &ex->req);
      std::optional<response> now;
      try {
        now = h.at_head(ex->req);
      } catch (const std::exception&) {
        now = json_error(500, "internal", "the " + name + " failed on this request");
      }
      if (now)
        return queue(conn, *now);
      // A declared length over the limit is refused unread.
      auto length = ex->req.header(MHD_HTTP_HEADER_CONTENT_LENGTH);
      uint64_t declared = 0;
      auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), declared);
      if (!length.empty() && (ec != std::errc{} || declared > lim.body_bytes))
        return queue(conn, too_large());
      return MHD_YES;
    }
    if (*upload_size != 0) {
      // A piece of the body (libmicrohttpd has already undone any chunking).
      if (!ex->too_large && ex->req.body.size() + *upload_size > lim.body_bytes) {
        ex->too_large = true;
        ex->req.body.clear();
        ex->req.body.shrink_to_fit();
      }
      if (ex->too_large) {
        // libmicrohttpd cannot answer before the body is over. A little more is
        // skipped unkept, so that a client whose body was a bit too large gets its
        // JSON 413; past that the connection is dropped.
        ex->skipped += *upload_size;
        if (ex->skipped > max_skipped)
          return MHD_NO;
      } else {
        ex->req.body.append(upload_data, *upload_size);
      }
      *upload_size = 0;
      return MHD_YES;
    }
    if (ex->too_large)
      return queue(conn, too_large());
    if (ex->ready) {
      // Resumed: the worker's answer.
      set_working(ex->record, false);
      return queue(conn, *ex->ready);
    }
    // The whole request is in: a worker answers it while the connection waits.
    set_working(ex->record, true);
    MHD_suspend_connection(conn);
    bool taken = pool.submit([this, ex, conn] {
      try {
        ex->ready = h.answer(ex->req);
      } catch (const std::exception&) {
        ex->ready = json_error(500, "internal", "the " + name + " failed on this request");
      }
      MHD_resume_connection(conn);
    });
    if (!taken) {
      ex->ready = json_error(503, "busy",
                             "the " + name + " has too many requests waiting; try again shortly");
      MHD_resume_connection(conn);
    }
    return MHD_YES;
  }

  response too_large() const {
    return json_error(413, "too_large",
                      "the request body is larger than " + std::to_string(lim.body_bytes)
                        + " bytes");
  }

  void set_working(connection_record* r, bool working) {
    if (r == nullptr)
      return;
    std::lock_guard lock{records_mutex};
    r->working = working;
  }

  void on_completed(void** context) {
    delete static_cast<exchange*>(*context);
    *context = nullptr;
  }

  void on_connection(MHD_Connection* conn, void** socket_context, MHD_ConnectionNotificationCode what) {
    std::lock_guard lock{records_mutex};
    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* r = new connection_record;
      auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
      r->fd = info != nullptr ? info->connect_fd : -1;
      r->request_started = clock::now();
      records.insert(r);
      *socket_context = r;
    } else if (auto* r = static_cast<connection_record*>(*socket_context)) {
      // Called before libmicrohttpd closes the socket: the sweep never touches a
      // descriptor that may have been reused.
      records.erase(r);
      delete r;
      *socket_context = nullptr;
    }
  }

  /// A request's clock starts when the previous one on the connection is answered.
  void request_done(MHD_Connection* conn) {
    auto* sock = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (sock == nullptr || sock->socket_context == nullptr)
      return;
    std::lock_guard lock{records_mutex};
    static_cast<connection_record*>(sock->socket_context)->request_started = clock::now();
  }

  /// Ends connections whose request has taken longer than the limit to arrive or to
  /// be taken (a byte every few seconds keeps libmicrohttpd's idle timeout from
  /// firing, not this). shutdown() makes the event loop see the end and close it.
  void sweep() {
    std::unique_lock lock{sweep_mutex};
    while (!sweep_wake.wait_for(lock, std::chrono::milliseconds{500}, [this] { return stopping; })) {
      auto now = clock::now();
      std::lock_guard records_lock{records_mutex};
      // Near the connection limit, a request gets one second to arrive: a flood of
      // idle connections is cleared each sweep instead of holding every slot for the
      // whole deadline, and the clients that send a request at once get in.
      auto allowed = records.size() * 4 >= static_cast<size_t>(lim.connections) * 3
                       ? std::chrono::seconds{1}
                       : lim.request;
      for (auto* r : records)
        if (!r->working && r->fd >= 0 && now - r->request_started > allowed) {
          ::shutdown(r->fd, SHUT_RDWR);
          r->fd = -1; // once
        }
    }
  }

  void stop() {
    {
      std::lock_guard lock{sweep_mutex};
      if (stopping)
        return;
      stopping = true;
      sweep_wake.notify_all();
    }
    if (sweeper.joinable())
      sweeper.join();
    // Every suspended connection is resumed by its worker before the daemon stops
    // (stopping with one suspended is undefined in libmicrohttpd).
    pool.stop();
    if (daemon != nullptr) {
      MHD_stop_daemon(daemon);
      daemon = nullptr;
    }
  }
};

namespace {

MHD_Result access_handler(void* cls, MHD_Connection* conn, const char* url, const char* method,
                          const char*, const char* upload_data, size_t* upload_size,
                          void** context) {
  return static_cast<server::impl*>(cls)->on_request(conn, url, method, upload_data, upload_size,
                                                     context);
}

void completed(void* cls, MHD_Connection* conn, void** context, MHD_RequestTerminationCode) {
  auto* d = static_cast<server::impl*>(cls);
  d->on_completed(context);
  d->request_done(conn);
}

void connection_note(void* cls, MHD_Connection* conn, void** socket_context,
                     MHD_ConnectionNotificationCode what) {
  static_cast<server::impl*>(cls)->on_connection(conn, socket_context, what);
}

void log_line(void* cls, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof text, format, args);
  std::string_view line{text};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  auto* d = static_cast<server::impl*>(cls);
  if (d->h.log)
    d->h.log(d->name + ": " + std::string{line});
}

} // namespace

server::server(std::unique_ptr<impl> d) : impl_(std::move(d)) {
}

server::~server() {
  stop();
}

int server::port() const {
  return impl_->port;
}

void server::stop() {
  if (impl_)
    impl_->stop();
}

hm::expected<std::unique_ptr<server>>
server::start(const std::string& name, const std::string& host, int port, handlers h, limits l,
              std::optional<tls_files> tls) {
  auto where = host + ":" + std::to_string(port);
  sockaddr_storage addr{};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                   | MHD_USE_ERROR_LOG;
  auto literal = host == "localhost" ? std::string{"127.0.0.1"} : host;
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']')
    literal = literal.substr(1, literal.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
  } else if (::inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    flags |= MHD_USE_IPv6;
  } else {
    return fail(error_code::invalid_input,
                "cannot listen on " + where + ": the host is not an IP address of this host");
  }
  if (tls)
    flags |= MHD_USE_TLS;

  auto d = std::make_unique<impl>(name, std::move(h), l, std::move(tls));
  std::vector<MHD_OptionItem> options{
    {MHD_OPTION_SOCK_ADDR, 0, &addr},
    {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(std::max(1U, l.io_threads)), nullptr},
    {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(l.connections), nullptr},
    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<intptr_t>(l.connections_per_ip), nullptr},
    {MHD_OPTION_LISTEN_BACKLOG_SIZE, static_cast<intptr_t>(l.listen_backlog), nullptr},
    {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(l.idle.count()), nullptr},
    // The request line and headers live in this pool (with some room for the
    // answer's headers): what does not fit is answered 431, nothing grows.
    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(l.header_bytes + 4096), nullptr},
    {MHD_OPTION_STRICT_FOR_CLIENT, 1, nullptr},
    {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&completed), d.get()},
    {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&connection_note), d.get()},
    {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&log_line), d.get()},
  };
  if (d->tls) {
    options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, d->tls->cert_pem.data()});
    options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, d->tls->key_pem.data()});
  }
  options.push_back({MHD_OPTION_END, 0, nullptr});
  d->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &access_handler, d.get(),
                               MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
  if (d->daemon == nullptr)
    return fail(error_code::io,
                "cannot listen on " + where
                  + (d->tls ? " (in use, not an address of this host, or the TLS certificate "
                              "and key do not load)"
                            : " (in use, or not an address of this host)"));
  if (auto* info = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_BIND_PORT))
    d->port = info->port;
  d->sweeper = std::thread{[p = d.get()] { p->sweep(); }};
  return std::unique_ptr<server>{new server(std::move(d))};
}

} // namespace hm::httpd
