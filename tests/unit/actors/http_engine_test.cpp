#define CAF_SUITE http_engine

#include "actors/http/engine.hpp"

#include "caf/test/unit_test.hpp"

#include <caf/all.hpp>

#include <httplib.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using namespace hm;

namespace {

size_t thread_count() {
  auto tasks = std::filesystem::directory_iterator{"/proc/self/task"};
  return static_cast<size_t>(std::distance(begin(tasks), end(tasks)));
}

/// Polls `done` until it holds or 10 s have passed (a guard against hangs,
/// not a timing requirement).
bool eventually(const std::function<bool()>& done) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(10ms))
    if (done())
      return true;
  return done();
}

/// A port on 127.0.0.1 that nothing listens on.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// cpp-httplib on a free port of 127.0.0.1, serving in its own thread.
struct local_server {
  httplib::Server http;
  int port = 0;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> polls{0};

  local_server() {
    http.new_task_queue = [] { return new httplib::ThreadPool(16); };
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.status = req.method == "PUT" ? 201 : 200;
      res.set_header("X-Echo-Method", req.method);
      res.set_content(req.get_header_value("Authorization") + "|"
                        + req.get_header_value("X-Test") + "|" + req.body,
                      "text/plain");
    };
    http.Get("/echo", echo);
    http.Put("/echo", echo);
    http.Post("/echo", echo);
    http.Get("/sleep", [this](const httplib::Request&, httplib::Response& res) {
      wait_released(3s);
      res.set_content("late", "text/plain");
    });
    http.Get("/poll", [this](const httplib::Request&, httplib::Response& res) {
      ++polls;
      wait_released(20s);
      res.set_content("released", "text/plain");
    });
    http.Get("/port", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.remote_port), "text/plain");
    });
    http.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(10000, 'x'), "text/plain");
    });
    http.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream",
                                       [](size_t, httplib::DataSink& sink) {
        for (std::string part : {"one\n", "two\n", "three\n"}) {
          sink.write(part.data(), part.size());
          std::this_thread::sleep_for(100ms);
        }
        sink.done();
        return true;
      });
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread{[this] { http.listen_after_bind(); }};
    // stop() does nothing before the server runs.
    eventually([this] { return http.is_running(); });
  }

  ~local_server() {
    release();
    http.stop();
    thread.join();
  }

  void release() {
    std::lock_guard guard{mutex};
    released = true;
    cv.notify_all();
  }

  void wait_released(std::chrono::seconds limit) {
    std::unique_lock guard{mutex};
    cv.wait_for(guard, limit, [this] { return released; });
  }

  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

/// tests/unit/actors/long_poll_server.py in a child process (its threads do
/// not count as ours, it takes hundreds of connections at once, and it can
/// break a response off).
struct long_poll_server {
  pid_t pid = -1;
  int port = 0;

  long_poll_server() {
    int out[2];
    CAF_REQUIRE(::pipe(out) == 0);
    pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::execl(HM_PYTHON3, HM_PYTHON3, HM_LONG_POLL_SERVER, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    auto* f = ::fdopen(out[0], "r");
    CAF_REQUIRE(std::fscanf(f, "%d", &port) == 1);
    std::fclose(f);
  }

  ~long_poll_server() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }

  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

/// Makes `call` and forwards its result to `collector`. (Arguments, not
/// captures: CAF 0.17 dereferences a null pointer when spawning a functor
/// without arguments.)
caf::behavior requester(caf::event_based_actor* self, http_engine_actor engine, http_call call,
                        caf::actor collector) {
  self->request(engine, caf::infinite, std::move(call)).then([self, collector](http_result& r) {
    self->send(collector, std::move(r));
    self->quit();
  });
  return {[](int) {}};
}

struct config : caf::actor_system_config {
  config() {
    add_message_types<caf::id_block::hermes_matrix>();
  }
};

struct fixture {
  // Outlives the engine: its workers end quickly once the engine has closed
  // the connections it kept alive.
  local_server server;
  config cfg;
  caf::actor_system sys{cfg};
  size_t threads_before_engine = thread_count();
  http_engine_actor engine = spawn_http_engine(sys);
  caf::scoped_actor self{sys};

  ~fixture() {
    caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  }

  http_result perform(http_call call) {
    http_result result;
    self->request(engine, 15s, std::move(call))
      .receive([&](http_result& r) { result = std::move(r); },
               [&](caf::error& e) { CAF_FAIL("the engine answered " << sys.render(e)); });
    return result;
  }

  uint64_t in_flight() {
    uint64_t n = 0;
    self->request(engine, 15s, atom::status_v)
      .receive([&](uint64_t x) { n = x; },
               [&](caf::error& e) { CAF_FAIL("the engine answered " << sys.render(e)); });
    return n;
  }

  /// Spawns `n` actors that each make `call` and forward its result to self.
  void spawn_requesters(int n, const http_call& call) {
    for (int i = 0; i < n; ++i)
      sys.spawn(requester, engine, call, caf::actor{self});
  }

  /// The next `n` results that requesters forwarded to self.
  std::vector<http_result> forwarded_results(int n) {
    std::vector<http_result> results;
    for (int i = 0; i < n; ++i)
      self->receive([&](http_result& r) { results.push_back(std::move(r)); },
                    caf::after(15s) >> [&] { CAF_FAIL("only " << i << " results arrived"); });
    return results;
  }
};

http_call get(std::string url, uint64_t id = 1) {
  http_call call;
  call.id = id;
  call.url = std::move(url);
  return call;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_engine_tests, fixture)

CAF_TEST(calls carry method and headers and body and authorization and responses come back whole) {
  for (std::string method : {"GET", "PUT", "POST"}) {
    auto call = get(server.url("/echo"), 7);
    call.method = method;
    call.headers = {{"X-Test", "t-" + method}};
    call.authorization = secret{"Bearer syt_very_secret"};
    call.body = method == "GET" ? "" : R"({"m":")" + method + R"("})";
    auto printed = caf::deep_to_string(call);
    CAF_CHECK_EQUAL(printed.find("syt_very_secret"), std::string::npos);
    auto r = perform(call);
    CAF_CHECK_EQUAL(r.id, 7u);
    CAF_CHECK_EQUAL(r.error, "");
    CAF_CHECK_EQUAL(r.status, method == "PUT" ? 201 : 200);
    CAF_CHECK_EQUAL(r.header("x-echo-method"), method);
    CAF_CHECK_EQUAL(r.header("content-type"), "text/plain");
    CAF_CHECK_EQUAL(r.body, "Bearer syt_very_secret|t-" + method + "|" + call.body);
    for (auto& [name, value] : r.headers)
      CAF_CHECK(std::none_of(name.begin(), name.end(), [](char c) { return std::isupper(c); }));
  }
}

CAF_TEST(calls one after another share a kept-alive connection) {
  auto first = perform(get(server.url("/port")));
  auto second = perform(get(server.url("/port")));
  CAF_CHECK_EQUAL(first.status, 200);
  CAF_CHECK_EQUAL(first.body, second.body); // the same client port
}

CAF_TEST(a call that outlasts its timeout ends with status 0 and says timeout) {
  auto call = get(server.url("/sleep"));
  call.timeout = 200ms;
  auto r = perform(call);
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK_NOT_EQUAL(r.error.find("timeout"), std::string::npos);
  CAF_MESSAGE(r.error);
}

CAF_TEST(a refused connection ends with status 0 and a reason) {
  auto r = perform(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK_NOT_EQUAL(r.error, "");
  CAF_MESSAGE(r.error);
}

CAF_TEST(a streamed body arrives as chunks in order then the result) {
  auto call = get(server.url("/stream"), 3);
  call.stream = true;
  self->send(engine, call, caf::actor_cast<http_stream_sink_actor>(self));
  std::vector<std::string> chunks;
  std::optional<http_result> result;
  while (!result)
    self->receive([&](http_chunk& c) {
                    CAF_CHECK_EQUAL(c.id, 3u);
                    chunks.push_back(std::move(c.data));
                  },
                  [&](http_result& r) { result = std::move(r); },
                  caf::after(15s) >> [&] { CAF_FAIL("the stream did not end"); });
  CAF_CHECK_EQUAL(result->status, 200);
  CAF_CHECK_EQUAL(result->body, "");
  CAF_CHECK_GREATER(chunks.size(), 1u);
  std::string whole;
  for (auto& c : chunks)
    whole += c;
  CAF_CHECK_EQUAL(whole, "one\ntwo\nthree\n");
}

CAF_TEST(a cancelled call ends at once with a result that says so) {
  auto rh = self->request(engine, 15s, get(server.url("/poll"), 42));
  CAF_REQUIRE(eventually([&] { return server.polls == 1; }));
  self->send(engine, atom::cancel_v, uint64_t{42});
  rh.receive(
    [&](http_result& r) {
      CAF_CHECK_EQUAL(r.id, 42u);
      CAF_CHECK_EQUAL(r.status, 0);
      CAF_CHECK_EQUAL(r.error, "cancelled");
    },
    [&](caf::error& e) { CAF_FAIL("the engine answered " << sys.render(e)); });
  CAF_CHECK_EQUAL(in_flight(), 0u);
}

CAF_TEST(a body above max_body_bytes fails the call) {
  auto call = get(server.url("/big"));
  call.max_body_bytes = 1000;
  auto r = perform(call);
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK_EQUAL(r.body, "");
  CAF_CHECK_EQUAL(r.error, "response body larger than 1000 bytes");
  CAF_CHECK(r.body_too_large);
}

CAF_TEST(a body that ends early fails the call) {
  long_poll_server poll_server;
  auto r = perform(get(poll_server.url("/truncated")));
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK_EQUAL(r.body, "");
  CAF_CHECK_NOT_EQUAL(r.error.find("ended early"), std::string::npos);
  CAF_MESSAGE(r.error);
}

CAF_TEST(the calls of a requester that dies are cancelled) {
  auto doomed = sys.spawn(requester, engine, get(server.url("/poll")), caf::actor{self});
  CAF_REQUIRE(eventually([&] { return server.polls == 1; }));
  CAF_CHECK_EQUAL(in_flight(), 1u);
  self->send_exit(doomed, caf::exit_reason::kill);
  CAF_CHECK(eventually([&] { return in_flight() == 0; }));
}

CAF_TEST(two hundred concurrent long-polls cost one thread) {
  long_poll_server poll_server;
  // The baseline is taken once the engine has done a call, so that threads
  // that start lazily (CAF's clock, the engine's own) are in it: what is
  // measured is that 200 waiting calls add none.
  CAF_REQUIRE_EQUAL(perform(get(poll_server.url("/waiting"))).status, 200);
  auto baseline = thread_count();
  spawn_requesters(200, get(poll_server.url("/poll")));
  CAF_REQUIRE(eventually([&] { return perform(get(poll_server.url("/waiting"))).body == "200"; }));
  CAF_CHECK_EQUAL(in_flight(), 200u);
  // Short-lived threads (libcurl's resolver, a server pool growing under load)
  // may come and go; a thread per call would stay while the 200 calls wait.
  size_t threads = 0;
  bool no_more_threads = eventually([&] {
    threads = thread_count();
    return threads <= baseline;
  });
  CAF_MESSAGE(threads_before_engine << " threads before the engine, " << baseline
                                    << " after its first call, " << threads
                                    << " with 200 calls in flight");
  CAF_CHECK(no_more_threads);
  // No check on `baseline` against `threads_before_engine`: threads of earlier tests
  // in this process (servers, CAF's pool) may still be winding down when it is taken,
  // which made that check fail under load although the engine added no thread.
  CAF_CHECK_EQUAL(perform(get(poll_server.url("/release"))).status, 200);
  auto results = forwarded_results(200);
  CAF_CHECK(std::all_of(results.begin(), results.end(), [](const http_result& r) {
    return r.status == 200 && r.body == "released";
  }));
}

CAF_TEST(stopping the engine ends pending calls with a shutting down result) {
  long_poll_server poll_server;
  spawn_requesters(100, get(poll_server.url("/poll")));
  CAF_REQUIRE(eventually([&] { return perform(get(poll_server.url("/waiting"))).body == "100"; }));
  self->send_exit(engine, caf::exit_reason::user_shutdown);
  auto results = forwarded_results(100);
  CAF_CHECK(std::all_of(results.begin(), results.end(), [](const http_result& r) {
    return r.status == 0 && r.error == "the http engine is shutting down";
  }));
}

CAF_TEST_FIXTURE_SCOPE_END()
